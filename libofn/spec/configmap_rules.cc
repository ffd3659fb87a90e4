// ConfigMap (core v1): settings kept in the store. One is read by the
// platform — knative-serving/config-autoscaler, Knative's autoscaler
// settings — and its data is checked here as the platform will read it.
#include <boost/json.hpp>

#include "libofn/spec/internal/kinds.h"
#include "libofn/spec/scale_spec.h"

namespace ofn::spec::internal {
namespace {

void Validate(const json::object& root, Reporter* rep) {
  const json::object* data = ObjectAt(root, {"data"});
  for (std::string_view part : {"data", "binaryData"}) {
    if (const json::object* m = ObjectAt(root, {part})) {
      for (const auto& kv : *m) {
        if (!IsConfigKey(kv.key())) {
          rep->Error(std::string(part) + "." + std::string(kv.key()),
                     "a key must consist of alphanumeric characters, '-', '_' or '.'");
        }
      }
    }
  }
  const json::object* meta = ObjectAt(root, {"metadata"});
  if (StringOr(meta, "name", "") != kAutoscalerConfigName ||
      StringOr(meta, "namespace", "") != kAutoscalerConfigNamespace) {
    return;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  if (data) {
    for (const auto& kv : *data) {
      if (kv.value().is_string()) pairs.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
  std::vector<std::string> errors;
  ParseAutoscalerConfig(pairs, scale::AutoscalerConfig{}, &errors);
  for (const std::string& e : errors) {
    size_t colon = e.find(": ");
    rep->Error(e.substr(0, colon), colon == std::string::npos ? e : e.substr(colon + 2));
  }
}

}  // namespace

KindRules ConfigMapRules() {
  KindRules r;
  r.group = "";
  r.kind = "ConfigMap";
  r.versions = {"v1"};
  r.body_at_root = true;
  r.validate = Validate;
  return r;
}

}  // namespace ofn::spec::internal
