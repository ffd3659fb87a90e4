// Images in containerd's stores: blobs written to and read from the Content
// service, image records in the Images service, layers unpacked into
// snapshots by the Diff service, all under containerd's garbage-collection
// labels (an image keeps its manifest, config and layers; the config keeps
// the unpacked snapshot chain). Internal to the containerd backend.
#ifndef LIBOFN_BACKENDS_CONTAINERD_INTERNAL_IMAGES_H_
#define LIBOFN_BACKENDS_CONTAINERD_INTERNAL_IMAGES_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "libofn/backends/containerd/internal/api.h"
#include "libofn/backends/containerd/oci.h"

namespace ofn::containerd::internal {

// An image ready to run: its layers unpacked as the snapshot `chain_id`.
struct ResolvedImage {
  std::string name;
  std::string manifest_digest;
  std::string chain_id;
  OciImage image;  // config and layer descriptors (no layer bytes)
};

// Thread-safe.
class ImageStore {
 public:
  ImageStore(const Api& api, std::string snapshotter) : api_(api), snapshotter_(std::move(snapshotter)) {}

  const std::string& snapshotter() const { return snapshotter_; }
  const Api& api() const { return api_; }

  bool HasBlob(const std::string& digest) const;
  // Writes a blob (its bytes must be at hand unless HasBlob), verified
  // against its digest by containerd, with `labels` set on it.
  Status WriteBlob(const Blob& blob, const std::map<std::string, std::string>& labels, const std::string& lease) const;
  // A blob's bytes; at most `max_bytes`.
  Result<std::string> ReadBlob(const std::string& digest, size_t max_bytes) const;

  // Stores `image` under `name` (replacing what the name pointed to).
  Status Import(const std::string& name, const OciImage& image) const;
  // Stores every image of an archive; returns their names.
  Result<std::vector<std::string>> ImportArchive(const ImageArchive& archive) const;
  // Creates or moves the image record `name` to `manifest` (whose blobs are
  // in the content store).
  Status PutImage(const std::string& name, const Blob& manifest) const;

  // The image record `name` with its manifest (from an index: linux/amd64)
  // and config; NotFound when containerd has no such image.
  Result<ResolvedImage> Resolve(const std::string& name) const;
  // Makes sure the image's layers are unpacked into the snapshotter.
  Status Unpack(const ResolvedImage& image);
  // Resolve, then Unpack.
  Result<ResolvedImage> Ensure(const std::string& name);

  Status Delete(const std::string& name) const;

 private:
  const Api& api_;
  std::string snapshotter_;
  std::mutex unpack_mu_;  // one unpack at a time: two would race on the same chain
};

}  // namespace ofn::containerd::internal

#endif  // LIBOFN_BACKENDS_CONTAINERD_INTERNAL_IMAGES_H_
