#include "libofn/backends/internal/supervision.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "libofn/backends/process/probe.h"
#include "libofn/common/log.h"
#include "libofn/gateway/client.h"
#include "libofn/gateway/server.h"

namespace ofn::backends::internal {

using backend::Probe;
using Millis = std::chrono::milliseconds;

Millis RestartBackoff(int consecutive_crashes, Millis base, Millis cap) {
  Millis wait = base;
  for (int i = 1; i < consecutive_crashes && wait < cap; ++i) wait *= 2;
  return std::min(wait, cap);
}

backend::InstanceHealth Supervision::Health() const {
  std::lock_guard<std::mutex> lock(mu);
  backend::InstanceHealth h;
  h.serving = state == State::kReady;
  h.restarts = restarts;
  h.reason = reason;
  h.message = message;
  h.limits_warning = limits_warning;
  h.warning_reason = warning_reason;
  return h;
}

void Supervision::Notify() {
  std::function<void()> obs;
  {
    std::lock_guard<std::mutex> lock(mu);
    obs = observer;
  }
  cv.notify_all();
  if (obs) obs();
  Settle();
}

void Supervision::Settle() {
  std::function<void()> done;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!start_done || !(ever_ready || !start_failure.empty() || state == State::kDone)) return;
    done = std::move(start_done);
    start_done = nullptr;
  }
  done();
}

void Supervision::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu);
    stop_requested = true;
    observer = nullptr;
  }
  cv.notify_all();
}

Millis Supervision::ProbePeriod(const Probe& p, bool starting) const {
  if (p.period.count() > 0) return p.period;
  return starting ? StartingPeriod() : Millis(std::chrono::seconds(10));
}

Millis Supervision::StartingPeriod() const {
  // Counted in waits, not in time: a test's manual clock that stands still
  // must not keep the loop at 1 ms.
  return starting_waits_ < opt.quick_probes ? std::min(opt.fast_probe_period, Millis(1)) : opt.fast_probe_period;
}

Status Supervision::StartRun() {
  OFN_RETURN_IF_ERROR(Launch());
  launched_ = clock->Monotonic();
  deadline_ = launched_ + start_timeout;
  next_probe_ = launched_ + readiness.initial_delay;
  liveness_failures_ = 0;
  liveness_killed_ = false;
  starting_waits_ = 0;
  return Status::Ok();
}

void Supervision::OnExit(const Exit& exit) {
  std::unique_lock<std::mutex> lock(mu);
  if (stop_requested || state == State::kStopping) {
    state = State::kDone;
    return;
  }
  if (!ever_ready) {
    start_failure = What() + " " + exit.how + " before it was ready; last output:\n" + LogTail();
    state = State::kDone;
    lock.unlock();
    Notify();
    return;
  }
  auto now = clock->Monotonic();
  if (now - launched_ >= opt.backoff_reset_after) consecutive_crashes = 0;
  ++consecutive_crashes;
  ++restarts;
  const Millis wait = RestartBackoff(consecutive_crashes, opt.backoff_base, opt.backoff_cap);
  restart_at_ = now + wait;
  state = State::kBackoff;
  last_exit_oom_ = exit.oom && !liveness_killed_;
  reason = last_exit_oom_ ? "OOMKilled" : consecutive_crashes >= 2 ? "CrashLoopBackOff" : "InstanceCrashed";
  std::string why = liveness_killed_ ? "failed its liveness probe " + std::to_string(liveness.failure_threshold) +
                                           " times and was restarted"
                                     : exit.how;
  message = What() + " on port " + std::to_string(port) + " " + why + "; back-off " + std::to_string(wait.count()) +
            "ms before restart " + std::to_string(restarts) + "; last output:\n" + LogTail();
  OFN_LOG(kWarning) << label << (label.empty() ? "" : ": ") << message;
  lock.unlock();
  Notify();
}

// After the loop: a run still under way gets SIGTERM, the grace period on
// the real clock (an exit does not wait for a test to move a manual one),
// then SIGKILL; then the instance's leftovers go.
void Supervision::StopForGood() {
  if (Running()) {
    Signal(SIGTERM);
    const auto until = std::chrono::steady_clock::now() + grace;
    while (Running() && std::chrono::steady_clock::now() < until && !Wait(Millis(10))) {
    }
    if (Running()) Signal(SIGKILL);
    // A run that does not end even then (its runtime is gone) is given up on.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Running() && std::chrono::steady_clock::now() < give_up && !Wait(Millis(10))) {
    }
  }
  Finish();
  {
    std::lock_guard<std::mutex> lock(mu);
    state = State::kDone;
  }
  cv.notify_all();
  Settle();
  finished = true;
}

void Supervision::Run() {
  if (adopted) {
    launched_ = clock->Monotonic();
    next_probe_ = launched_ + ProbePeriod(liveness, false);
  } else {
    Status st = Prepare();
    if (st.ok()) st = StartRun();
    if (!st.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu);
        start_failure = st.message();
        state = State::kDone;
      }
      Notify();
      StopForGood();
      return;
    }
  }
  for (;;) {
    State seen;
    {
      std::lock_guard<std::mutex> lock(mu);
      seen = state;
    }
    Millis period = opt.idle_period;
    if (seen == State::kStarting) {
      period = StartingPeriod();
      ++starting_waits_;
    }
    if (Running()) {
      if (std::optional<Exit> exit = Wait(period)) OnExit(*exit);
    } else {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, period, [&] { return stop_requested && state != State::kStopping; });
    }
    auto now = clock->Monotonic();
    std::unique_lock<std::mutex> lock(mu);
    if (state == State::kDone) break;
    if (stop_requested && state != State::kStopping) {
      if (!Running()) {
        state = State::kDone;
        break;
      }
      state = State::kStopping;
      kill_at_ = now + grace;
      lock.unlock();
      Signal(SIGTERM);
      continue;
    }
    switch (state) {
      case State::kStopping:
        if (now >= kill_at_) {
          lock.unlock();
          Signal(SIGKILL);
          kill_at_ = now + std::chrono::hours(1);
        }
        break;
      case State::kBackoff:
        if (now >= restart_at_) {
          state = State::kStarting;
          lock.unlock();
          Status st = StartRun();
          if (!st.ok()) {
            std::lock_guard<std::mutex> relock(mu);
            state = State::kBackoff;
            restart_at_ = now + opt.backoff_cap;
            message = "restart failed: " + st.message();
          }
        }
        break;
      case State::kStarting: {
        if (now >= deadline_) {
          lock.unlock();
          if (!ever_ready) {
            {
              std::lock_guard<std::mutex> relock(mu);
              start_failure = What() + " did not become ready within " + std::to_string(start_timeout.count()) +
                              "ms (" +
                              (readiness.type == Probe::Type::kHttp ? "httpGet " + readiness.path : std::string("tcp")) +
                              " probe on port " + std::to_string(port) + "); last output:\n" + LogTail();
              stop_requested = true;
            }
            Notify();
          } else {
            liveness_killed_ = false;
            Signal(SIGKILL);  // counted as a crash when it ends
          }
          break;
        }
        if (now < next_probe_) break;
        lock.unlock();
        bool ok = process::RunProbe(readiness, port);
        next_probe_ = clock->Monotonic() + ProbePeriod(readiness, true);
        if (ok) {
          {
            std::lock_guard<std::mutex> relock(mu);
            state = State::kReady;
            ever_ready = true;
            if (last_exit_oom_) {
              // Like a pod's lastState: the instance is back, but its
              // memory limit is too low for what it does.
              message = What() + " on port " + std::to_string(port) + " was OOM-killed and restarted (" +
                        std::to_string(restarts) + " restart(s)); raise resources.limits.memory";
            } else {
              reason.clear();
              message.clear();
            }
          }
          next_probe_ = clock->Monotonic() + liveness.initial_delay + ProbePeriod(liveness, false);
          Notify();
        }
        break;
      }
      case State::kReady:
        if (liveness.type == Probe::Type::kNone || now < next_probe_) break;
        lock.unlock();
        next_probe_ = now + ProbePeriod(liveness, false);
        if (process::RunProbe(liveness, port)) {
          liveness_failures_ = 0;
        } else if (++liveness_failures_ >= liveness.failure_threshold) {
          liveness_killed_ = true;
          Signal(SIGKILL);
        }
        break;
      case State::kDone:
        break;
    }
  }
  StopForGood();
}

HttpResponse SupervisedInstance::Handle(const HttpRequest& request) {
  auto r = gateway::HttpCall(s_->Address(), request, std::chrono::minutes(5));
  if (!r.ok()) return gateway::ErrorResponse(502, "instance " + s_->Address() + " did not answer: " + r.status().message());
  return std::move(*r);
}

void SupervisedInstance::SetHealthObserver(std::function<void()> observer) {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->observer = std::move(observer);
}

Result<int> FreeLoopbackPort(std::set<int>& taken) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port > 0 && taken.insert(port).second) return port;
  }
  return Status(StatusCode::kUnavailable, "no free loopback port");
}

std::function<void()> SettleWith(std::weak_ptr<Supervision> weak, backend::InstanceDriver::StartDone done) {
  return [weak = std::move(weak), done = std::move(done)] {
    std::shared_ptr<Supervision> s = weak.lock();
    if (!s) return done(Status(StatusCode::kUnavailable, "instance stopped before it was ready"));
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->ever_ready) {
      std::string failure = s->start_failure.empty() ? "instance stopped before it was ready" : s->start_failure;
      s->stop_requested = true;
      lock.unlock();
      s->cv.notify_all();
      return done(Status(StatusCode::kFailedPrecondition, failure));
    }
    lock.unlock();
    done(std::shared_ptr<backend::Instance>(std::make_shared<SupervisedInstance>(s)));
  };
}

}  // namespace ofn::backends::internal
