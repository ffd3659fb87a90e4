// Supervision of one instance, shared by the built-in backends that run
// programs (process, containerd): the first start until the readiness probe
// passes or serving.timeout runs out, liveness probes, crash restarts with
// exponential back-off (InstanceCrashed, CrashLoopBackOff, OOMKilled), and
// the stop (SIGTERM, grace, SIGKILL). One thread per instance runs it.
// Deadlines, probe periods and back-off follow an injected Clock, so a test
// on a ManualClock decides when a restart is due. A backend supplies how a
// run is launched, signalled, waited for and cleaned up; the instance the
// platform holds (SupervisedInstance) is the same for every such backend.
#ifndef LIBOFN_BACKENDS_INTERNAL_SUPERVISION_H_
#define LIBOFN_BACKENDS_INTERNAL_SUPERVISION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "libofn/backend/driver.h"
#include "libofn/common/clock.h"
#include "libofn/common/status.h"

namespace ofn::backends::internal {

// The wait before a restart after `consecutive_crashes` crashes in a row
// (1: the first): base, 2 × base, 4 × base, ... at most cap. Pure.
std::chrono::milliseconds RestartBackoff(int consecutive_crashes, std::chrono::milliseconds base,
                                         std::chrono::milliseconds cap);

struct SupervisionOptions {
  std::chrono::milliseconds backoff_base{std::chrono::seconds(1)};
  std::chrono::milliseconds backoff_cap{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_reset_after{std::chrono::seconds(60)};
  // How often a starting instance is probed when its probe sets no period,
  // and how long one wait lasts while it starts; the first quick_probes
  // waits of a start last 1 ms (most programs bind their port within
  // tens of milliseconds, and a refused connect costs microseconds).
  std::chrono::milliseconds fast_probe_period{std::chrono::milliseconds(20)};
  int quick_probes = 100;
  // How long one wait lasts once it runs.
  std::chrono::milliseconds idle_period{std::chrono::milliseconds(20)};
};

class Supervision {
 public:
  enum class State { kStarting, kReady, kBackoff, kStopping, kDone };

  virtual ~Supervision() = default;

  // Set before Run.
  Clock* clock = nullptr;
  SupervisionOptions opt;
  backend::Probe readiness, liveness;
  std::chrono::milliseconds start_timeout{0}, grace{0};
  int port = 0;
  std::string label;           // "revision ns/name", for the log
  std::string limits_warning, warning_reason;  // Health()'s
  // A run that survived the platform's last run: it starts ready, without
  // Prepare or Launch.
  bool adopted = false;

  mutable std::mutex mu;
  std::condition_variable cv;
  State state = State::kStarting;
  bool stop_requested = false;
  bool ever_ready = false;
  std::string start_failure;  // set when the first start failed
  int restarts = 0;
  int consecutive_crashes = 0;
  std::string reason, message;
  std::function<void()> observer;
  // Called once, from the supervisor thread, when the first start settles:
  // ready, failed, or stopped before it was ready.
  std::function<void()> start_done;
  std::thread thread;
  std::atomic<bool> finished{false};

  std::string Address() const { return "127.0.0.1:" + std::to_string(port); }
  backend::InstanceHealth Health() const;
  // Wakes waiters, calls the health observer, and settles the first start.
  void Notify();
  // Calls start_done if the first start has settled.
  void Settle();
  // The supervisor thread: until stopped.
  void Run();
  // Asks Run to stop the instance; returns at once.
  void RequestStop();

 protected:
  struct Exit {
    std::string how;  // "exited with code 1", "was killed by signal 9", ...
    bool oom = false;
  };
  // Before the first run (a container and its snapshot).
  virtual Status Prepare() { return Status::Ok(); }
  // Starts one run.
  virtual Status Launch() = 0;
  virtual void Signal(int sig) = 0;
  // Whether a run is under way (launched and not yet seen to end).
  virtual bool Running() const = 0;
  // Waits at most `period` for the current run to end, taking its output
  // meanwhile; once it ended, cleans up after it and returns how.
  virtual std::optional<Exit> Wait(std::chrono::milliseconds period) = 0;
  // After the last run: what the instance holds goes.
  virtual void Finish() = 0;
  // The last lines of its output, for messages.
  virtual std::string LogTail() const = 0;
  // "instance", "container <id>": how messages name it.
  virtual std::string What() const = 0;

 private:
  Status StartRun();
  void OnExit(const Exit& exit);
  std::chrono::milliseconds ProbePeriod(const backend::Probe& p, bool starting) const;
  // The wait of a starting instance: 1 ms for its first quick_probes waits.
  std::chrono::milliseconds StartingPeriod() const;
  void StopForGood();

  // Supervisor-thread state.
  Clock::Duration launched_{}, deadline_{}, next_probe_{}, restart_at_{}, kill_at_{};
  int liveness_failures_ = 0;
  int starting_waits_ = 0;
  bool liveness_killed_ = false;
  bool last_exit_oom_ = false;
};

// The instance the platform holds: proxied to at Address(); dropping it
// stops the supervision.
class SupervisedInstance : public backend::Instance {
 public:
  explicit SupervisedInstance(std::shared_ptr<Supervision> s) : s_(std::move(s)) {}
  ~SupervisedInstance() override { s_->RequestStop(); }
  HttpResponse Handle(const HttpRequest& request) override;
  std::string Upstream() const override { return s_->Address(); }
  backend::InstanceHealth Health() const override { return s_->Health(); }
  void SetHealthObserver(std::function<void()> observer) override;

 private:
  std::shared_ptr<Supervision> s_;
};

// A loopback port free now and not in `taken` (where it is added): an
// instance's port.
Result<int> FreeLoopbackPort(std::set<int>& taken);

// The callback a driver's StartAsync gives the supervision: once the first
// start settles, `done` gets the instance or why it could not start.
std::function<void()> SettleWith(std::weak_ptr<Supervision> weak, backend::InstanceDriver::StartDone done);

}  // namespace ofn::backends::internal

#endif  // LIBOFN_BACKENDS_INTERNAL_SUPERVISION_H_
