// The backends libofn brings, registered in one place: one line each. A new
// backend is a folder under backends/ plus its line here.
#ifndef LIBOFN_BACKENDS_BUILTIN_H_
#define LIBOFN_BACKENDS_BUILTIN_H_

#include <string>
#include <vector>

#include "libofn/backend/registry.h"
#include "libofn/backends/containerd/options.h"
#include "libofn/backends/inprocess/inprocess.h"
#include "libofn/backends/process/options.h"
#include "libofn/build/builder.h"

namespace ofn::backends {

struct BuiltinBackendOptions {
  const inprocess::FunctionRegistry* functions = nullptr;  // must outlive the drivers
  std::vector<std::string> library_dirs;
  inprocess::OutputSink outputs;
  process::ProcessDriverOptions process;
  // The containerd backend, when `containerd.socket` is set (and this build
  // has it).
  containerd::ContainerdOptions containerd;
};

// inprocess (priority 100), containerd (95, when asked for), process (90).
// Fails when the containerd backend is asked for and cannot be had.
Status RegisterBuiltinBackends(backend::Registry& registry, const BuiltinBackendOptions& options);

// The builder's image stage over the registry's containerd driver (bundles
// layered on a run image, stored in containerd); empty when there is none.
// The driver must outlive what it returns.
build::ImageMaker ContainerdImageMaker(const backend::Registry& registry);
// Images as build sources and the revision controller's image digests,
// from the same driver; empty functions when there is none.
build::ImageSource ContainerdImageSource(const backend::Registry& registry);

}  // namespace ofn::backends

#endif  // LIBOFN_BACKENDS_BUILTIN_H_
