// ContainerdDriver: runs a Function revision's OCI image as containers in
// containerd, one container per instance, the way faasd does for OpenFaaS,
// behind libofn's own gateway and autoscaler.
//
// It takes workloads whose function container names an OCI image (not an
// ofn.local/ one). An instance is a container in containerd namespace
// `options.ns`, labelled with its function, namespace, revision, instance,
// port and owner (containerd is the source of truth: Recover adopts what a
// previous run left running). Its rootfs is a snapshot of the image's
// unpacked layers; its OCI runtime spec is made here from the workload and
// the image config (command/args over Entrypoint/Cmd, env with PORT and
// FUNC_CONTEXT, working dir, numeric user, memory and CPU limits as cgroup
// limits), on the host's network with a loopback port per instance.
// stdout/stderr go to the revision's log, as the process backend's do.
// Start returns once the readiness probe passes; task exits restart the
// instance with the process backend's back-off and status reasons; a stop
// is SIGTERM, grace, SIGKILL, and removes task, container and snapshot.
//
// Images: what containerd has, else pulled with the OCI distribution API
// from the registry or its configured mirrors, as imagePullPolicy says;
// ImportImage, ImportArchive and PullImage fill containerd (`ofn image`).
// Thread-safe. Only this backend's sources see gRPC (see internal/api.h).
#ifndef LIBOFN_BACKENDS_CONTAINERD_CONTAINERD_H_
#define LIBOFN_BACKENDS_CONTAINERD_CONTAINERD_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/backend/driver.h"
#include "libofn/backends/containerd/oci.h"
#include "libofn/backends/containerd/options.h"

namespace ofn::containerd {

class ContainerdDriver : public backend::InstanceDriver {
 public:
  // Connects to containerd and picks the snapshotter; the error says what
  // is missing (no socket, no answer).
  static Result<std::shared_ptr<ContainerdDriver>> Open(ContainerdOptions options);
  // Stops every instance and waits for them.
  ~ContainerdDriver() override;

  std::string_view name() const override { return "containerd"; }
  bool Accepts(const backend::Workload& w) const override;
  std::string Requirement(const backend::Workload& w) const override;
  Result<std::shared_ptr<backend::Instance>> Start(const backend::Workload& w) override;
  void StartAsync(const backend::Workload& w, StartDone done) override;
  void Shutdown() override;
  // Running containers this owner left: adopted as ready instances; the
  // rest (exited tasks, containers without a task) are removed here.
  std::vector<backend::SurvivingInstance> Recover() override;
  Result<std::string> Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const override;

  // Stores `image` in containerd under `name` (a normalized reference).
  Status ImportImage(const std::string& name, const OciImage& image);
  // Stores every image of an image archive (see ReadImageArchive); returns
  // their names.
  Result<std::vector<std::string>> ImportArchive(std::string_view tar, std::string_view fallback_name);
  // Pulls an image from its registry (or a mirror of it) into containerd.
  Status PullImage(const std::string& name);
  // Pushes an image containerd has to `dest`'s registry ("" = its own
  // name's), the way a build publishes to spec.image.
  // `docker_config`: a docker config JSON whose auths come first (a
  // Function's imageCredentials Secret); "" = the registry config's only.
  Status PushImage(const std::string& name, const std::string& dest, const std::string& docker_config = "");
  // Pulls `name` (`docker_config`'s credentials first, as for PushImage)
  // and returns the digest of the manifest it resolved to: what the
  // revision controller compares.
  Result<std::string> PullImageDigest(const std::string& name, const std::string& docker_config = "");
  // Writes the files of an image containerd has (its layers applied in
  // order, whiteouts honoured) that lie under `sub_path` of its rootfs into
  // `dest` (created); returns the manifest digest. A source bundle
  // (spec.build.srcRepo.bundleContainer) is read this way.
  Result<std::string> ExtractImage(const std::string& name, const std::string& sub_path, const std::string& dest);
  // An image containerd has, with its layer descriptors (no bytes): a base
  // for BuildImage.
  Result<OciImage> GetImage(const std::string& name);
  struct ImageInfo {
    std::string name, digest;  // the target's digest
  };
  Result<std::vector<ImageInfo>> ListImages() const;
  Status DeleteImage(const std::string& name);

  const std::string& snapshotter() const;
  const std::string& server_version() const;
  const std::string& owner() const;
  // IDs of the containers of this owner containerd has now.
  Result<std::vector<std::string>> ContainerIds() const;
  // Instances not yet fully stopped.
  int live() const;

 private:
  ContainerdDriver() = default;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ofn::containerd

#endif  // LIBOFN_BACKENDS_CONTAINERD_CONTAINERD_H_
