#include "libofn/backends/containerd/internal/images.h"

#include <google/protobuf/field_mask.pb.h>

#include <boost/json.hpp>
#include <chrono>

namespace ofn::containerd::internal {

namespace {

constexpr size_t kChunk = 1 << 20;
constexpr size_t kMaxJsonBlob = 8 << 20;  // manifests, indexes and configs

bool IsIndex(std::string_view media_type) { return media_type == kOciIndex || media_type == kDockerManifestList; }

::containerd::types::Descriptor ToProto(const Blob& b) {
  ::containerd::types::Descriptor d;
  d.set_media_type(b.media_type);
  d.set_digest(b.digest);
  d.set_size(b.size);
  return d;
}

// The labels that keep a manifest's config and layers alive while the
// manifest is (containerd's garbage collector follows them).
std::map<std::string, std::string> ManifestRefs(const ManifestInfo& m) {
  std::map<std::string, std::string> labels{{"containerd.io/gc.ref.content.config", m.config.digest}};
  for (size_t i = 0; i < m.layers.size(); ++i) {
    labels["containerd.io/gc.ref.content.l." + std::to_string(i)] = m.layers[i].digest;
  }
  return labels;
}

}  // namespace

bool ImageStore::HasBlob(const std::string& digest) const {
  content::InfoRequest req;
  req.set_digest(digest);
  content::InfoResponse resp;
  auto ctx = api_.Context();
  return api_.content->Info(ctx.get(), req, &resp).ok();
}

Status ImageStore::WriteBlob(const Blob& blob, const std::map<std::string, std::string>& labels,
                             const std::string& lease) const {
  if (HasBlob(blob.digest)) {
    if (labels.empty()) return Status::Ok();
    content::UpdateRequest req;
    req.mutable_info()->set_digest(blob.digest);
    for (const auto& [k, v] : labels) {
      (*req.mutable_info()->mutable_labels())[k] = v;
      req.mutable_update_mask()->add_paths("labels." + k);
    }
    content::UpdateResponse resp;
    auto ctx = api_.Context(std::chrono::seconds(30), lease);
    return Api::Check(api_.content->Update(ctx.get(), req, &resp), "label blob " + blob.digest);
  }
  if (static_cast<int64_t>(blob.data.size()) != blob.size || blob.data.empty()) {
    return Status(StatusCode::kNotFound, "blob " + blob.digest + " is neither in containerd nor at hand");
  }
  const std::string ref = "ofn-" + blob.digest;
  {  // A write of the same ref left by an earlier failed attempt.
    content::AbortRequest abort;
    abort.set_ref(ref);
    google::protobuf::Empty empty;
    auto ctx = api_.Context();
    (void)api_.content->Abort(ctx.get(), abort, &empty);
  }
  auto ctx = api_.Context(std::chrono::minutes(10), lease);
  auto stream = api_.content->Write(ctx.get());
  content::WriteContentResponse resp;
  for (size_t off = 0; off < blob.data.size(); off += kChunk) {
    content::WriteContentRequest req;
    req.set_action(content::WRITE);
    req.set_ref(ref);
    req.set_total(blob.size);
    req.set_expected(blob.digest);
    req.set_offset(static_cast<int64_t>(off));
    req.set_data(blob.data.substr(off, kChunk));
    if (!stream->Write(req) || !stream->Read(&resp)) break;
  }
  content::WriteContentRequest commit;
  commit.set_action(content::COMMIT);
  commit.set_ref(ref);
  commit.set_total(blob.size);
  commit.set_expected(blob.digest);
  commit.set_offset(blob.size);
  for (const auto& [k, v] : labels) (*commit.mutable_labels())[k] = v;
  if (stream->Write(commit)) stream->Read(&resp);
  stream->WritesDone();
  while (stream->Read(&resp)) {
  }  // Finish waits for every message to be read
  return Api::Check(stream->Finish(), "write blob " + blob.digest);
}

Result<std::string> ImageStore::ReadBlob(const std::string& digest, size_t max_bytes) const {
  content::ReadContentRequest req;
  req.set_digest(digest);
  auto ctx = api_.Context(std::chrono::minutes(5));
  auto reader = api_.content->Read(ctx.get(), req);
  std::string out;
  content::ReadContentResponse chunk;
  while (reader->Read(&chunk)) {
    out += chunk.data();
    if (out.size() > max_bytes) {
      ctx->TryCancel();
      reader->Finish().ok();
      return Status(StatusCode::kResourceExhausted, "blob " + digest + " is over " + std::to_string(max_bytes) + " bytes");
    }
  }
  OFN_RETURN_IF_ERROR(Api::Check(reader->Finish(), "read blob " + digest));
  return out;
}

Status ImageStore::PutImage(const std::string& name, const Blob& manifest) const {
  images::Image img;
  img.set_name(name);
  *img.mutable_target() = ToProto(manifest);
  {
    images::CreateImageRequest req;
    *req.mutable_image() = img;
    images::CreateImageResponse resp;
    auto ctx = api_.Context();
    grpc::Status s = api_.images->Create(ctx.get(), req, &resp);
    if (s.error_code() != grpc::StatusCode::ALREADY_EXISTS) return Api::Check(s, "create image " + name);
  }
  images::UpdateImageRequest req;
  *req.mutable_image() = img;
  req.mutable_update_mask()->add_paths("target");
  images::UpdateImageResponse resp;
  auto ctx = api_.Context();
  return Api::Check(api_.images->Update(ctx.get(), req, &resp), "update image " + name);
}

Status ImageStore::Import(const std::string& name, const OciImage& image) const {
  OFN_ASSIGN_OR_RETURN(Lease lease, Lease::Create(api_, std::chrono::hours(1)));
  for (const Blob& l : image.layers) OFN_RETURN_IF_ERROR(WriteBlob(l, {}, lease.id()));
  OFN_RETURN_IF_ERROR(WriteBlob(image.config, {}, lease.id()));
  ManifestInfo m{image.config, image.layers};
  OFN_RETURN_IF_ERROR(WriteBlob(image.manifest, ManifestRefs(m), lease.id()));
  return PutImage(name, image.manifest);
}

Result<std::vector<std::string>> ImageStore::ImportArchive(const ImageArchive& archive) const {
  OFN_ASSIGN_OR_RETURN(Lease lease, Lease::Create(api_, std::chrono::hours(1)));
  // Children first, then what refers to them, with the labels that keep them.
  std::map<std::string, std::map<std::string, std::string>> labels;
  for (const auto& [digest, blob] : archive.blobs) {
    if (blob.media_type == kOciManifest || blob.media_type == kDockerManifest) {
      OFN_ASSIGN_OR_RETURN(ManifestInfo m, ParseManifest(blob.data));
      labels[digest] = ManifestRefs(m);
    } else if (IsIndex(blob.media_type)) {
      // Every manifest of the index stays with it.
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(blob.data, ec);
      const boost::json::value* ms = !ec && v.is_object() ? v.as_object().if_contains("manifests") : nullptr;
      if (!ms || !ms->is_array()) return Status(StatusCode::kInvalidArgument, "index " + digest + ": manifests is missing");
      size_t i = 0;
      for (const boost::json::value& m : ms->as_array()) {
        const boost::json::value* d = m.is_object() ? m.as_object().if_contains("digest") : nullptr;
        if (d && d->is_string() && archive.blobs.count(std::string(d->as_string()))) {
          labels[digest]["containerd.io/gc.ref.content.m." + std::to_string(i++)] = std::string(d->as_string());
        }
      }
    }
  }
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& [digest, blob] : archive.blobs) {
      const bool index = IsIndex(blob.media_type);
      const bool manifest = blob.media_type == kOciManifest || blob.media_type == kDockerManifest;
      if ((pass == 0 && (index || manifest)) || (pass == 1 && !manifest) || (pass == 2 && !index)) continue;
      auto it = labels.find(digest);
      OFN_RETURN_IF_ERROR(WriteBlob(blob, it == labels.end() ? std::map<std::string, std::string>{} : it->second,
                                    lease.id()));
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, desc] : archive.images) {
    OFN_RETURN_IF_ERROR(PutImage(name, desc));
    names.push_back(name);
  }
  return names;
}

Result<ResolvedImage> ImageStore::Resolve(const std::string& name) const {
  images::GetImageRequest req;
  req.set_name(name);
  images::GetImageResponse resp;
  auto ctx = api_.Context();
  grpc::Status s = api_.images->Get(ctx.get(), req, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return Status(StatusCode::kNotFound, "containerd (namespace " + api_.ns() + ") has no image " + name);
  }
  OFN_RETURN_IF_ERROR(Api::Check(s, "get image " + name));
  Blob target;
  target.media_type = resp.image().target().media_type();
  target.digest = resp.image().target().digest();
  target.size = resp.image().target().size();
  if (IsIndex(target.media_type)) {
    OFN_ASSIGN_OR_RETURN(std::string index, ReadBlob(target.digest, kMaxJsonBlob));
    OFN_ASSIGN_OR_RETURN(target, SelectManifest(index, "linux", "amd64"));
  }
  ResolvedImage out;
  out.name = name;
  out.manifest_digest = target.digest;
  OFN_ASSIGN_OR_RETURN(std::string manifest_json, ReadBlob(target.digest, kMaxJsonBlob));
  OFN_ASSIGN_OR_RETURN(ManifestInfo m, ParseManifest(manifest_json));
  OFN_ASSIGN_OR_RETURN(std::string config_json, ReadBlob(m.config.digest, kMaxJsonBlob));
  OFN_ASSIGN_OR_RETURN(out.image, ParseImageConfig(config_json));
  if (out.image.diff_ids.size() != m.layers.size()) {
    return Status(StatusCode::kInvalidArgument, "image " + name + ": its config lists " +
                                                     std::to_string(out.image.diff_ids.size()) + " layer(s), its manifest " +
                                                     std::to_string(m.layers.size()));
  }
  out.image.manifest = target;
  out.image.config = m.config;
  out.image.layers = m.layers;
  out.chain_id = ChainId(out.image.diff_ids);
  return out;
}

Status ImageStore::Unpack(const ResolvedImage& img) {
  std::lock_guard<std::mutex> lock(unpack_mu_);
  auto exists = [&](const std::string& key) {
    snapshots::StatSnapshotRequest req;
    req.set_snapshotter(snapshotter_);
    req.set_key(key);
    snapshots::StatSnapshotResponse resp;
    auto ctx = api_.Context();
    return api_.snapshots->Stat(ctx.get(), req, &resp).ok();
  };
  if (img.chain_id.empty()) return Status(StatusCode::kInvalidArgument, "image " + img.name + " has no layers");
  if (!exists(img.chain_id)) {
    OFN_ASSIGN_OR_RETURN(Lease lease, Lease::Create(api_, std::chrono::hours(1)));
    std::vector<std::string> chain;
    for (size_t i = 0; i < img.image.layers.size(); ++i) {
      chain.push_back(img.image.diff_ids[i]);
      const std::string name = ChainId(chain);
      const std::string parent = i == 0 ? "" : ChainId({chain.begin(), chain.end() - 1});
      if (exists(name)) continue;
      const std::string key = "ofn-extract-" + RandomHex(6) + "-" + name;
      snapshots::PrepareSnapshotRequest prep;
      prep.set_snapshotter(snapshotter_);
      prep.set_key(key);
      prep.set_parent(parent);
      snapshots::PrepareSnapshotResponse mounts;
      {
        auto ctx = api_.Context(std::chrono::seconds(30), lease.id());
        OFN_RETURN_IF_ERROR(Api::Check(api_.snapshots->Prepare(ctx.get(), prep, &mounts), "prepare snapshot " + key));
      }
      auto remove = [&] {
        snapshots::RemoveSnapshotRequest rm;
        rm.set_snapshotter(snapshotter_);
        rm.set_key(key);
        google::protobuf::Empty empty;
        auto ctx = api_.Context();
        (void)api_.snapshots->Remove(ctx.get(), rm, &empty);
      };
      diff::ApplyRequest apply;
      *apply.mutable_diff() = ToProto(img.image.layers[i]);
      *apply.mutable_mounts() = mounts.mounts();
      diff::ApplyResponse applied;
      {
        auto ctx = api_.Context(std::chrono::minutes(10), lease.id());
        Status st = Api::Check(api_.diff->Apply(ctx.get(), apply, &applied),
                               "unpack layer " + img.image.layers[i].digest + " of " + img.name);
        if (!st.ok()) {
          remove();
          return st;
        }
      }
      if (applied.applied().digest() != img.image.diff_ids[i]) {
        remove();
        return Status(StatusCode::kInvalidArgument, "image " + img.name + ": layer " + std::to_string(i) + " unpacks to " +
                                                         applied.applied().digest() + ", its config says " +
                                                         img.image.diff_ids[i]);
      }
      snapshots::CommitSnapshotRequest commit;
      commit.set_snapshotter(snapshotter_);
      commit.set_name(name);
      commit.set_key(key);
      google::protobuf::Empty empty;
      auto ctx = api_.Context(std::chrono::seconds(30), lease.id());
      grpc::Status s = api_.snapshots->Commit(ctx.get(), commit, &empty);
      if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
        remove();
        return Api::Check(s, "commit snapshot " + name);
      }
      if (!s.ok()) remove();
    }
    // The config keeps the unpacked chain (containerd's own unpacker does the same).
    OFN_RETURN_IF_ERROR(WriteBlob(img.image.config, {{"containerd.io/gc.ref.snapshot." + snapshotter_, img.chain_id}},
                                  lease.id()));
  }
  return Status::Ok();
}

Result<ResolvedImage> ImageStore::Ensure(const std::string& name) {
  OFN_ASSIGN_OR_RETURN(ResolvedImage img, Resolve(name));
  OFN_RETURN_IF_ERROR(Unpack(img));
  return img;
}

Status ImageStore::Delete(const std::string& name) const {
  images::DeleteImageRequest req;
  req.set_name(name);
  req.set_sync(true);
  google::protobuf::Empty empty;
  auto ctx = api_.Context();
  return Api::Check(api_.images->Delete(ctx.get(), req, &empty), "delete image " + name);
}

}  // namespace ofn::containerd::internal
