// WasmPlugin (extensions.higress.io/v1alpha1): the gateway plugins of seed
// 004, validated as the gateway will enforce them (plugin_config.h).
#include <boost/json.hpp>

#include "libofn/spec/internal/kinds.h"
#include "libofn/spec/plugin_config.h"

namespace ofn::spec::internal {
namespace {

void Validate(const json::object& root, Reporter* rep) {
  const json::object* meta = ObjectAt(root, {"metadata"});
  const json::value* spec = root.if_contains("spec");
  std::vector<PluginError> errors;
  ParsePlugin(StringOr(meta, "namespace", ""), StringOr(meta, "name", ""),
              spec ? json::serialize(*spec) : std::string("{}"), &errors);
  for (const PluginError& e : errors) rep->Error(e.path, e.message);
}

}  // namespace

KindRules PluginRules() {
  KindRules r;
  r.group = "extensions.higress.io";
  r.kind = "WasmPlugin";
  r.versions = {"v1alpha1"};
  r.validate = Validate;
  return r;
}

}  // namespace ofn::spec::internal
