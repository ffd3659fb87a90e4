// libFuzzer: manifest text through parsing, schema validation, defaulting
// and conversion, then what the platform derives from a Function (its
// workload and scale options) and from a WasmPlugin.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libofn/spec/object.h"
#include "libofn/spec/plugin_config.h"
#include "libofn/spec/scale_spec.h"
#include "libofn/spec/workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ofn::spec::ParseResult r = ofn::spec::ParseManifests(text, "fuzz.yaml");
  for (const ofn::spec::Object& o : r.objects) {
    std::string spec = o.SpecJson();
    (void)o.ToYaml();
    if (o.kind() == "Function") {
      (void)ofn::spec::MakeWorkload(o.ns(), o.name(), o.name() + "-00001", spec);
      std::vector<ofn::spec::ScaleError> errors;
      (void)ofn::spec::ParseScaleSpec(spec, &errors);
    } else if (o.kind() == "WasmPlugin") {
      std::vector<ofn::spec::PluginError> errors;
      (void)ofn::spec::ParsePlugin(o.ns(), o.name(), spec, &errors);
    }
  }
  return 0;
}
