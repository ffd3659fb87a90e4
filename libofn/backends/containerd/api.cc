#include "libofn/backends/containerd/internal/api.h"

#include <sys/stat.h>

#include <random>

namespace ofn::containerd::internal {

namespace {

StatusCode CodeOf(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK:
      return StatusCode::kOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return StatusCode::kInvalidArgument;
    case grpc::StatusCode::NOT_FOUND:
      return StatusCode::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS:
      return StatusCode::kAlreadyExists;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return StatusCode::kFailedPrecondition;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
      return StatusCode::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return StatusCode::kDeadlineExceeded;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return StatusCode::kResourceExhausted;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return StatusCode::kPermissionDenied;
    case grpc::StatusCode::UNIMPLEMENTED:
      return StatusCode::kUnimplemented;
    default:
      return StatusCode::kInternal;
  }
}

}  // namespace

Result<std::unique_ptr<Api>> Api::Connect(const std::string& socket, const std::string& ns,
                                          std::chrono::milliseconds timeout) {
  struct stat st {};
  if (::stat(socket.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return Status(StatusCode::kUnavailable, "no containerd socket at " + socket +
                                                " (start containerd, or give its socket: ofn serve --containerd=SOCKET)");
  }
  auto api = std::unique_ptr<Api>(new Api());
  api->socket_ = socket;
  api->ns_ = ns;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // containerd checks the :authority of unix-socket calls against nothing,
  // but grpc-go servers reject a percent-encoded path as authority.
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, "localhost");
  api->channel_ = grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(), args);
  api->containers = ctr::Containers::NewStub(api->channel_);
  api->content = content::Content::NewStub(api->channel_);
  api->diff = diff::Diff::NewStub(api->channel_);
  api->events = events::Events::NewStub(api->channel_);
  api->images = images::Images::NewStub(api->channel_);
  api->introspection = introspection::Introspection::NewStub(api->channel_);
  api->leases = leases::Leases::NewStub(api->channel_);
  api->namespaces = namespaces::Namespaces::NewStub(api->channel_);
  api->snapshots = snapshots::Snapshots::NewStub(api->channel_);
  api->tasks = tasks::Tasks::NewStub(api->channel_);
  api->version = version::Version::NewStub(api->channel_);
  google::protobuf::Empty empty;
  version::VersionResponse v;
  auto ctx = api->Context(timeout);
  grpc::Status s = api->version->Version(ctx.get(), empty, &v);
  if (!s.ok()) {
    return Status(StatusCode::kUnavailable, "containerd at " + socket + " does not answer: " + s.error_message());
  }
  api->server_version_ = v.version();
  return api;
}

std::unique_ptr<grpc::ClientContext> Api::Context(std::chrono::milliseconds timeout, std::string_view lease) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("containerd-namespace", ns_);
  if (!lease.empty()) ctx->AddMetadata("containerd-lease", std::string(lease));
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

Status Api::Check(const grpc::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status(CodeOf(s.error_code()), "containerd: " + std::string(what) + ": " + s.error_message());
}

std::string RandomHex(size_t bytes) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = static_cast<unsigned>(rng() & 0xff);
    out += hex[v >> 4];
    out += hex[v & 15];
  }
  return out;
}

Result<Lease> Lease::Create(const Api& api, std::chrono::seconds expire) {
  leases::CreateRequest req;
  req.set_id("ofn-" + RandomHex(8));
  // containerd's garbage collector removes the lease after this time.
  auto until = std::chrono::system_clock::now() + expire;
  std::time_t t = std::chrono::system_clock::to_time_t(until);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  (*req.mutable_labels())["containerd.io/gc.expire"] = buf;
  leases::CreateResponse resp;
  auto ctx = api.Context();
  OFN_RETURN_IF_ERROR(Api::Check(api.leases->Create(ctx.get(), req, &resp), "create lease"));
  return Lease(&api, resp.lease().id());
}

Lease::~Lease() {
  if (!api_) return;
  leases::DeleteRequest req;
  req.set_id(id_);
  google::protobuf::Empty empty;
  auto ctx = api_->Context(std::chrono::seconds(10));
  (void)api_->leases->Delete(ctx.get(), req, &empty);
}

}  // namespace ofn::containerd::internal
