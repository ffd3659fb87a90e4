// The containerd API over its gRPC socket: one channel, a stub per service,
// and the call context every request needs (the containerd namespace as
// metadata, a deadline, a lease). Internal to the containerd backend: the
// only header that includes the generated gRPC code, and only this
// backend's sources include it.
#ifndef LIBOFN_BACKENDS_CONTAINERD_INTERNAL_API_H_
#define LIBOFN_BACKENDS_CONTAINERD_INTERNAL_API_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "libofn/common/status.h"
#include "libofn/ctrd_events_task.pb.h"
#include "libofn/ctrd_services_containers_containers.grpc.pb.h"
#include "libofn/ctrd_services_content_content.grpc.pb.h"
#include "libofn/ctrd_services_diff_diff.grpc.pb.h"
#include "libofn/ctrd_services_events_events.grpc.pb.h"
#include "libofn/ctrd_services_images_images.grpc.pb.h"
#include "libofn/ctrd_services_introspection_introspection.grpc.pb.h"
#include "libofn/ctrd_services_leases_leases.grpc.pb.h"
#include "libofn/ctrd_services_namespaces_namespace.grpc.pb.h"
#include "libofn/ctrd_services_snapshots_snapshots.grpc.pb.h"
#include "libofn/ctrd_services_tasks_tasks.grpc.pb.h"
#include "libofn/ctrd_services_version_version.grpc.pb.h"

namespace ofn::containerd::internal {

namespace ctr = ::containerd::services::containers::v1;
namespace content = ::containerd::services::content::v1;
namespace diff = ::containerd::services::diff::v1;
namespace events = ::containerd::services::events::v1;
namespace images = ::containerd::services::images::v1;
namespace introspection = ::containerd::services::introspection::v1;
namespace leases = ::containerd::services::leases::v1;
namespace namespaces = ::containerd::services::namespaces::v1;
namespace snapshots = ::containerd::services::snapshots::v1;
namespace tasks = ::containerd::services::tasks::v1;
namespace version = ::containerd::services::version::v1;

// Thread-safe (gRPC stubs are).
class Api {
 public:
  // Connects to containerd's socket and checks it answers (Version);
  // the error says what was tried.
  static Result<std::unique_ptr<Api>> Connect(const std::string& socket, const std::string& ns,
                                              std::chrono::milliseconds timeout);

  const std::string& ns() const { return ns_; }
  const std::string& socket() const { return socket_; }
  const std::string& server_version() const { return server_version_; }

  // A context for one call: the namespace, a deadline and (when given) the
  // lease that holds what the call creates.
  std::unique_ptr<grpc::ClientContext> Context(std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                               std::string_view lease = "") const;

  // OK, or the call's error as a Status naming `what` ("create task x").
  static Status Check(const grpc::Status& s, std::string_view what);

  std::unique_ptr<ctr::Containers::Stub> containers;
  std::unique_ptr<content::Content::Stub> content;
  std::unique_ptr<diff::Diff::Stub> diff;
  std::unique_ptr<events::Events::Stub> events;
  std::unique_ptr<images::Images::Stub> images;
  std::unique_ptr<introspection::Introspection::Stub> introspection;
  std::unique_ptr<leases::Leases::Stub> leases;
  std::unique_ptr<namespaces::Namespaces::Stub> namespaces;
  std::unique_ptr<snapshots::Snapshots::Stub> snapshots;
  std::unique_ptr<tasks::Tasks::Stub> tasks;
  std::unique_ptr<version::Version::Stub> version;

 private:
  std::string socket_, ns_, server_version_;
  std::shared_ptr<grpc::Channel> channel_;
};

// A lease that holds what is created under it from garbage collection
// until it is deleted (containerd deletes it itself after `expire`, should
// this process die first).
class Lease {
 public:
  static Result<Lease> Create(const Api& api, std::chrono::seconds expire);
  Lease(Lease&& o) noexcept : api_(o.api_), id_(std::move(o.id_)) { o.api_ = nullptr; }
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  const std::string& id() const { return id_; }

 private:
  Lease(const Api* api, std::string id) : api_(api), id_(std::move(id)) {}
  const Api* api_;
  std::string id_;
};

// A random lowercase hex string of `bytes` bytes.
std::string RandomHex(size_t bytes);

}  // namespace ofn::containerd::internal

#endif  // LIBOFN_BACKENDS_CONTAINERD_INTERNAL_API_H_
