#include "libofn/backends/builtin.h"

#include "libofn/backends/process/process.h"
#include "libofn/version_gen.h"
#if OFN_WITH_CONTAINERD
#include "libofn/backends/containerd/containerd.h"
#endif

namespace ofn {

bool containerd::Available() { return OFN_WITH_CONTAINERD; }

Status backends::RegisterBuiltinBackends(backend::Registry& registry, const BuiltinBackendOptions& o) {
  OFN_RETURN_IF_ERROR(registry.Add(
      {100, std::make_shared<inprocess::InProcessDriver>(o.functions, o.library_dirs, o.outputs)}));
  if (!o.containerd.socket.empty()) {
#if OFN_WITH_CONTAINERD
    OFN_ASSIGN_OR_RETURN(auto driver, containerd::ContainerdDriver::Open(o.containerd));
    OFN_RETURN_IF_ERROR(registry.Add({95, std::move(driver)}));
#else
    return Status(StatusCode::kUnimplemented, "this build of libofn has no containerd backend (meson option containerd)");
#endif
  } else {
    registry.AddDisabled("containerd", OFN_WITH_CONTAINERD
                                           ? "OCI images as containers: ofn serve --containerd[=SOCKET]"
                                           : "this build has no containerd backend: meson option containerd");
  }
  OFN_RETURN_IF_ERROR(registry.Add({90, std::make_shared<process::ProcessDriver>(o.process)}));
  return Status();
}

}  // namespace ofn
