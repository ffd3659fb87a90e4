#include "libofn/backends/builtin.h"

#include "libofn/backends/process/process.h"

namespace ofn::backends {

Status RegisterBuiltinBackends(backend::Registry& registry, const BuiltinBackendOptions& o) {
  OFN_RETURN_IF_ERROR(registry.Add(
      {100, std::make_shared<inprocess::InProcessDriver>(o.functions, o.library_dirs, o.outputs)}));
  OFN_RETURN_IF_ERROR(registry.Add({90, std::make_shared<process::ProcessDriver>(o.process)}));
  return Status();
}

}  // namespace ofn::backends
