// FakeDriver: an InstanceDriver for tests, with call counters. Its
// instances answer every request in process with "<driver> <revision>
// <method> <target>" and count what they handle; starts can be made to
// fail. Header-only; thread-safe.
//
//   auto fake = std::make_shared<ofn::testing::FakeDriver>("fake");
//   options.drivers.push_back({200, fake});
//   ... fake->starts() == 1, fake->last_workload().image == "..."
#ifndef LIBOFN_TESTING_FAKE_DRIVER_H_
#define LIBOFN_TESTING_FAKE_DRIVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/driver.h"

namespace ofn::testing {

class FakeDriver : public backend::InstanceDriver {
 public:
  // `accepts` decides Accepts(); by default every workload.
  explicit FakeDriver(std::string name = "fake", std::function<bool(const backend::Workload&)> accepts = nullptr)
      : name_(std::move(name)), accepts_(std::move(accepts)), counters_(std::make_shared<Counters>()) {}

  std::string_view name() const override { return name_; }
  bool Accepts(const backend::Workload& w) const override {
    ++counters_->accepts;
    return accepts_ ? accepts_(w) : true;
  }
  std::string Requirement(const backend::Workload&) const override { return "what the test's predicate wants"; }
  Result<std::shared_ptr<backend::Instance>> Start(const backend::Workload& w) override {
    ++counters_->starts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = w;
      if (!fail_with_.ok()) return fail_with_;
    }
    ++counters_->live;
    return std::shared_ptr<backend::Instance>(std::make_shared<Instance>(name_, w.revision, counters_));
  }
  bool StartsInline() const override { return starts_inline_.load(); }
  void Shutdown() override { ++counters_->shutdowns; }
  // The instances LeaveRunning put aside, handed over once.
  std::vector<backend::SurvivingInstance> Recover() override {
    ++counters_->recovers;
    std::vector<std::pair<std::string, std::string>> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left.swap(left_running_);
    }
    std::vector<backend::SurvivingInstance> out;
    for (auto& [ns, revision] : left) {
      ++counters_->live;
      out.push_back({ns, revision, std::make_shared<Instance>(name_, revision, counters_)});
    }
    return out;
  }
  // Every request its instances handled, a line each ("GET /x"), per revision.
  Result<std::string> Logs(std::string_view ns, std::string_view revision, size_t tail_lines) const override {
    (void)ns;
    ++counters_->logs;
    std::lock_guard<std::mutex> lock(counters_->mu);
    auto it = counters_->log.find(std::string(revision));
    if (it == counters_->log.end()) return Status(StatusCode::kNotFound, "nothing logged for " + std::string(revision));
    const std::string& text = it->second;  // whole lines, each ending in '\n'
    if (tail_lines == 0) return text;
    size_t start = text.size();
    for (size_t n = 0; n < tail_lines && start > 0; ++n) {
      size_t nl = text.rfind('\n', start - 2 < text.size() ? start - 2 : 0);
      start = (nl == std::string::npos || start < 2) ? 0 : nl + 1;
    }
    return text.substr(start);
  }

  // As if the platform's last run left `count` instances of that revision
  // running: the next Recover returns them.
  void LeaveRunning(const std::string& ns, const std::string& revision, int count) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < count; ++i) left_running_.emplace_back(ns, revision);
  }
  // Every Start fails with `status` from now on (OK: succeed again).
  void FailStartsWith(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_with_ = std::move(status);
  }
  // Whether it says its starts are quick enough to run on the thread that
  // asks (as the in-process driver does); false by default.
  void SetStartsInline(bool v) { starts_inline_.store(v); }
  backend::Workload last_workload() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }
  int accepts() const { return counters_->accepts.load(); }
  int starts() const { return counters_->starts.load(); }
  int live() const { return counters_->live.load(); }  // started and not yet dropped
  int handled() const { return counters_->handled.load(); }
  int shutdowns() const { return counters_->shutdowns.load(); }
  int recovers() const { return counters_->recovers.load(); }
  int logs() const { return counters_->logs.load(); }

 private:
  struct Counters {
    std::atomic<int> accepts{0}, starts{0}, live{0}, handled{0}, shutdowns{0}, recovers{0};
    mutable std::atomic<int> logs{0};
    std::mutex mu;
    std::map<std::string, std::string> log;  // revision -> lines
  };
  class Instance : public backend::Instance {
   public:
    Instance(std::string driver, std::string revision, std::shared_ptr<Counters> counters)
        : driver_(std::move(driver)), revision_(std::move(revision)), counters_(std::move(counters)) {}
    ~Instance() override { --counters_->live; }
    HttpResponse Handle(const HttpRequest& r) override {
      ++counters_->handled;
      {
        std::lock_guard<std::mutex> lock(counters_->mu);
        counters_->log[revision_] += r.method + " " + r.target + "\n";
      }
      return HttpResponse::Text(200, driver_ + " " + revision_ + " " + r.method + " " + r.target);
    }

   private:
    std::string driver_, revision_;
    std::shared_ptr<Counters> counters_;
  };

  const std::string name_;
  const std::function<bool(const backend::Workload&)> accepts_;
  std::shared_ptr<Counters> counters_;
  mutable std::mutex mu_;
  backend::Workload last_;
  Status fail_with_;
  std::atomic<bool> starts_inline_{false};
  std::vector<std::pair<std::string, std::string>> left_running_;  // (ns, revision)
};

}  // namespace ofn::testing

#endif  // LIBOFN_TESTING_FAKE_DRIVER_H_
