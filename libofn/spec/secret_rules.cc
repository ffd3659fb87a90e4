// Secret (core v1): credentials kept beside the objects that name them —
// today the certificates of a Gateway's HTTPS listeners. As Kubernetes does,
// `stringData` is merged into `data` (base64) when stored, and a
// kubernetes.io/tls Secret must hold tls.crt and tls.key.
#include <boost/json.hpp>

#include "libofn/common/base64.h"
#include "libofn/spec/internal/kinds.h"

namespace ofn::spec::internal {
namespace {

void Defaults(json::object& root) {
  if (!root.contains("type")) root["type"] = "Opaque";
  const json::value* found = root.if_contains("stringData");
  if (!found || !found->is_object()) return;
  // A copy: adding "data" below may move root's members.
  const json::object string_data = found->as_object();
  json::object& data = EnsureObject(root, "data");
  for (const auto& kv : string_data) {
    if (kv.value().is_string()) data[kv.key()] = Base64Encode(std::string_view(kv.value().as_string()));
  }
  root.erase("stringData");
}

void Validate(const json::object& root, Reporter* rep) {
  const json::object* data = ObjectAt(root, {"data"});
  if (data) {
    for (const auto& kv : *data) {
      std::string path = "data." + std::string(kv.key());
      if (!IsConfigKey(kv.key())) {
        rep->Error(path, "a key must consist of alphanumeric characters, '-', '_' or '.'");
        continue;
      }
      if (!kv.value().is_string()) continue;  // the schema says so
      Result<std::string> decoded = Base64Decode(std::string_view(kv.value().as_string()));
      if (!decoded.ok()) rep->Error(path, decoded.status().message());
    }
  }
  if (StringOr(&root, "type", "") == "kubernetes.io/tls") {
    for (std::string_view key : {"tls.crt", "tls.key"}) {
      if (!data || !data->contains(key)) {
        rep->Error("data", "a kubernetes.io/tls Secret needs " + std::string(key));
      }
    }
  }
}

}  // namespace

KindRules SecretRules() {
  KindRules r;
  r.group = "";
  r.kind = "Secret";
  r.versions = {"v1"};
  r.body_at_root = true;
  r.defaults = Defaults;
  r.validate = Validate;
  return r;
}

}  // namespace ofn::spec::internal
