// OCI images as values: image references, tar archives, gzip, sha256
// digests, and the image builder (a base image's layers plus one layer made
// from a directory, with an image config). No containerd and no gRPC here:
// the containerd backend imports what this builds, and `ofn image` and the
// tests build images with it. Pure functions; thread-safe.
#ifndef LIBOFN_BACKENDS_CONTAINERD_OCI_H_
#define LIBOFN_BACKENDS_CONTAINERD_OCI_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libofn/common/status.h"

namespace ofn::containerd {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";

// "sha256:<64 hex>" of `data`.
std::string Sha256Digest(std::string_view data);
// Whether `digest` is "sha256:" and 64 lowercase hex digits.
bool ValidDigest(std::string_view digest);

// An image reference: [registry/]repository[:tag][@digest], normalized the
// way Docker does (busybox -> docker.io/library/busybox:latest).
struct ImageReference {
  std::string registry;    // "docker.io", "127.0.0.1:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // "latest" when neither tag nor digest is given
  std::string digest;      // "sha256:..." or ""
  // registry/repository[:tag][@digest]: the name images are stored under.
  std::string Name() const;
};
// Errors name the part that is wrong.
Result<ImageReference> ParseImageReference(std::string_view text);

// One entry of a tar archive.
struct TarEntry {
  enum class Type { kFile, kDirectory, kSymlink, kHardlink };
  std::string path;  // relative, no leading "/" ("bin/sh", "www/")
  Type type = Type::kFile;
  uint32_t mode = 0644;
  uint32_t uid = 0, gid = 0;
  std::string data;  // kFile
  std::string link;  // kSymlink, kHardlink: the target
};
// A POSIX tar archive (ustar, with pax headers for long names), entries in
// the given order, times at the epoch: the same entries give the same bytes.
std::string WriteTar(const std::vector<TarEntry>& entries);
// Reads ustar, pax and GNU long-name archives; other entry types (devices,
// fifos) are skipped. Errors name the entry's offset.
Result<std::vector<TarEntry>> ReadTar(std::string_view archive);
// The entries of a directory tree, paths prefixed by `dest` ("app/"),
// sorted, with the directories leading to `dest` first. Symlinks are kept as
// links, not followed.
Result<std::vector<TarEntry>> DirectoryEntries(const std::string& dir, std::string_view dest);

Result<std::string> Gzip(std::string_view data);
// At most `max_bytes` of output: a bigger result is an error, not a crash.
Result<std::string> Gunzip(std::string_view data, size_t max_bytes);

// A content-addressed blob: a descriptor, and the bytes when they are at hand
// (empty `data` with a size: the blob is already where it goes).
struct Blob {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::string data;
};

// The `config` part of an image config, as OCI and Docker write it.
struct ImageConfig {
  std::vector<std::string> entrypoint, cmd;
  std::vector<std::string> env;  // "NAME=value"
  std::string working_dir;
  std::string user;  // "uid[:gid]" or a name
  std::vector<std::string> exposed_ports;  // "8080/tcp"
  std::map<std::string, std::string> labels;
};

// An image: its manifest, its config and its layers (bottom first), with the
// layers' uncompressed digests (the config's rootfs.diff_ids).
struct OciImage {
  Blob manifest, config;
  std::vector<Blob> layers;
  std::vector<std::string> diff_ids;
  ImageConfig image_config;
  std::string architecture = "amd64", os = "linux";
};

// The chain ID of a layer stack (OCI image spec): the snapshot name the
// unpacked layers have.
std::string ChainId(const std::vector<std::string>& diff_ids);

// Parses an image config blob (OCI or Docker). Errors name the field.
Result<OciImage> ParseImageConfig(std::string_view json);
// A manifest's config and layer descriptors (OCI or Docker schema 2).
struct ManifestInfo {
  Blob config;
  std::vector<Blob> layers;
};
Result<ManifestInfo> ParseManifest(std::string_view json);
// From an index or manifest list: the manifest for `os`/`architecture`
// (variant ignored), else the error lists what the index has.
Result<Blob> SelectManifest(std::string_view index_json, std::string_view os, std::string_view architecture);

// What to build: `base`'s layers (none: an empty rootfs), then one layer of
// `files` (when not empty), with `config` on top of the base's config (a
// field set here wins; env entries are merged by name).
struct ImageBuild {
  const OciImage* base = nullptr;
  std::vector<TarEntry> files;
  ImageConfig config;
  // Also keep the base's entrypoint/cmd when `config` sets neither.
  bool inherit_command = true;
};
// The image with every new blob's bytes in it (the base's layers keep
// theirs as given). Deterministic: the same input gives the same digests.
Result<OciImage> BuildImage(const ImageBuild& build);

// An image archive (an OCI image layout in a tar, as `ctr export`,
// `buildah push oci-archive:` and `skopeo copy` write it, or Docker's
// `docker save` format): every blob in it, and the images it names
// (name -> manifest descriptor). Docker archives get OCI manifests made for
// them. Images without a name are named by `fallback_name` when given.
struct ImageArchive {
  std::map<std::string, Blob> blobs;  // by digest
  std::vector<std::pair<std::string, Blob>> images;
};
Result<ImageArchive> ReadImageArchive(std::string_view tar, std::string_view fallback_name);
// An OCI image layout tar holding `image` under `name`.
std::string WriteImageArchive(const OciImage& image, std::string_view name);

}  // namespace ofn::containerd

#endif  // LIBOFN_BACKENDS_CONTAINERD_OCI_H_
