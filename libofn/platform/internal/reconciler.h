// The reconcile loop: one thread that, whenever a Function or Gateway
// changes, brings every Function's instance and route in line with its spec,
// publishes the route table and writes status back. Idempotent: a pass over
// unchanged objects writes nothing. Internal.
#ifndef LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_
#define LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libofn/backend/driver.h"
#include "libofn/common/clock.h"
#include "libofn/gateway/dispatch.h"
#include "libofn/store/store.h"

namespace ofn::platform::internal {

// FNV-1a, 64 bit.
uint64_t Hash64(std::string_view data);
// "serving-" + 5 base-36 characters of the hash.
std::string ResourceName(std::string_view prefix, uint64_t hash);

// Thread-safe.
class Reconciler {
 public:
  // Borrowed pointers must outlive the Reconciler.
  Reconciler(store::Store* store, Clock* clock, std::vector<backend::InstanceDriver*> drivers,
             gateway::Dispatcher* dispatcher);
  ~Reconciler();

  void Start();
  void Stop();
  void Kick();
  // Waits until every change committed before the call is reconciled.
  bool Sync(std::chrono::milliseconds timeout);

 private:
  struct Running {
    std::string hash;
    std::string resource_ref;
    std::string driver;
    std::shared_ptr<backend::Instance> instance;
    std::string reason, message;  // why it is not running
  };
  void Loop();
  void Pass();

  store::Store* store_;
  Clock* clock_;
  std::vector<backend::InstanceDriver*> drivers_;
  gateway::Dispatcher* dispatcher_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  int64_t done_rv_ = -1;
  std::thread thread_;

  std::map<std::string, Running> running_;  // by "ns/name"; loop thread only
};

}  // namespace ofn::platform::internal

#endif  // LIBOFN_PLATFORM_INTERNAL_RECONCILER_H_
