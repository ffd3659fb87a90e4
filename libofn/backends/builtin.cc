#include "libofn/backends/builtin.h"

#include <algorithm>
#include <fstream>
#include <sstream>

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

build::ImageMaker backends::ContainerdImageMaker(const backend::Registry& registry) {
#if OFN_WITH_CONTAINERD
  auto* driver = dynamic_cast<containerd::ContainerdDriver*>(registry.Find("containerd"));
  if (!driver) return {};
  return [driver](const build::ImageInput& in) -> Result<std::string> {
    OFN_ASSIGN_OR_RETURN(containerd::ImageReference name, containerd::ParseImageReference(in.name));
    // Published to spec.image when the Function names credentials for it.
    auto push = [&](const std::string& local) -> Status {
      if (in.push_to.empty()) return Status::Ok();
      Status pushed = driver->PushImage(local, in.push_to, in.push_credentials);
      if (!pushed.ok()) return Status(pushed.code(), "pushing to spec.image " + in.push_to + ": " + pushed.message());
      return Status::Ok();
    };
    if (!in.archive.empty()) {
      std::ifstream file(in.archive, std::ios::binary);
      std::ostringstream bytes;
      bytes << file.rdbuf();
      if (!file) return Status(StatusCode::kNotFound, "cannot read the image archive " + in.archive);
      OFN_ASSIGN_OR_RETURN(std::vector<std::string> names, driver->ImportArchive(bytes.str(), name.Name()));
      if (std::find(names.begin(), names.end(), name.Name()) == names.end()) {
        std::string have;
        for (const std::string& n : names) have += (have.empty() ? "" : ", ") + n;
        return Status(StatusCode::kInvalidArgument,
                      in.archive + " does not hold " + name.Name() + " (it holds: " + (have.empty() ? "none" : have) + ")");
      }
      OFN_RETURN_IF_ERROR(push(name.Name()));
      return name.Name();
    }
    containerd::ImageBuild b;
    for (const auto& [host, dest] : in.layers) {
      std::string prefix = dest.substr(dest.find_first_not_of('/')) + "/";
      OFN_ASSIGN_OR_RETURN(std::vector<containerd::TarEntry> files, containerd::DirectoryEntries(host, prefix));
      for (containerd::TarEntry& f : files) b.files.push_back(std::move(f));
    }
    b.config.entrypoint = in.command;
    for (const auto& [k, v] : in.env) b.config.env.push_back(k + "=" + v);
    b.config.working_dir = in.working_dir;
    b.inherit_command = in.command.empty();
    containerd::OciImage base;
    if (!in.base.empty()) {
      Result<containerd::ImageReference> ref = containerd::ParseImageReference(in.base);
      if (!ref.ok()) return Status(StatusCode::kInvalidArgument, "RUN_IMAGE \"" + in.base + "\": " + ref.status().message());
      Result<containerd::OciImage> got = driver->GetImage(ref->Name());
      if (!got.ok()) {
        // Not in containerd yet: from its registry (or a mirror of it).
        Status pulled = driver->PullImage(ref->Name());
        if (!pulled.ok()) {
          return Status(pulled.code(), "RUN_IMAGE " + ref->Name() + " is not in containerd and cannot be pulled: " +
                                           pulled.message());
        }
        got = driver->GetImage(ref->Name());
        if (!got.ok()) return got.status();
      }
      base = std::move(*got);
      b.base = &base;
    }
    OFN_ASSIGN_OR_RETURN(containerd::OciImage image, containerd::BuildImage(b));
    OFN_RETURN_IF_ERROR(driver->ImportImage(name.Name(), image));
    OFN_RETURN_IF_ERROR(push(name.Name()));
    return name.Name();
  };
#else
  (void)registry;
  return {};
#endif
}

build::ImageSource backends::ContainerdImageSource(const backend::Registry& registry) {
  build::ImageSource out;
#if OFN_WITH_CONTAINERD
  auto* driver = dynamic_cast<containerd::ContainerdDriver*>(registry.Find("containerd"));
  if (!driver) return out;
  out.resolve = [driver](const std::string& image, const std::string& docker_config) -> Result<std::string> {
    OFN_ASSIGN_OR_RETURN(containerd::ImageReference ref, containerd::ParseImageReference(image));
    return driver->PullImageDigest(ref.Name(), docker_config);
  };
  out.extract = [driver](const std::string& image, const std::string& sub_path,
                         const std::string& dest) -> Result<std::string> {
    OFN_ASSIGN_OR_RETURN(containerd::ImageReference ref, containerd::ParseImageReference(image));
    return driver->ExtractImage(ref.Name(), sub_path, dest);
  };
#else
  (void)registry;
#endif
  return out;
}

}  // namespace ofn
