// RecordingBackend: a Backend for tests that records every call as a line
// ("apply default/hello revisions=hello-00001 traffic=latest:100",
// "delete default/hello") and answers Observe with what the test sets.
// Header-only; thread-safe.
#ifndef LIBOFN_TESTING_RECORDING_BACKEND_H_
#define LIBOFN_TESTING_RECORDING_BACKEND_H_

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "libofn/backend/backend.h"

namespace ofn::testing {

class RecordingBackend : public backend::Backend {
 public:
  explicit RecordingBackend(std::string name = "recording") : name_(std::move(name)) {}

  std::string_view name() const override { return name_; }
  Status Apply(const backend::FunctionPlan& plan) override {
    std::string line = "apply " + plan.ns + "/" + plan.name + " revisions=";
    for (size_t i = 0; i < plan.revisions.size(); ++i) line += (i ? "," : "") + plan.revisions[i].name;
    line += " traffic=";
    for (size_t i = 0; i < plan.traffic.size(); ++i) {
      const backend::TrafficPlan& t = plan.traffic[i];
      line += (i ? "," : "") + (t.latest ? std::string("latest") : t.revision) + ":" + std::to_string(t.percent) +
              (t.tag.empty() ? "" : "@" + t.tag);
    }
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(line));
    plans_[plan.ns + "/" + plan.name] = plan;
    return Status();
  }
  Result<backend::FunctionObservation> Observe(std::string_view ns, std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++observes_;
    auto it = plans_.find(std::string(ns) + "/" + std::string(name));
    if (it == plans_.end()) return Status(StatusCode::kNotFound, "not applied");
    backend::FunctionObservation o = observation_;
    if (o.latest_ready_revision.empty() && !it->second.revisions.empty()) {
      o.latest_ready_revision = it->second.revisions.back().name;  // everything comes up at once
    }
    return o;
  }
  Status Delete(std::string_view ns, std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("delete " + std::string(ns) + "/" + std::string(name));
    plans_.erase(std::string(ns) + "/" + std::string(name));
    return Status();
  }

  // What Observe reports (latest_ready_revision defaults to the newest applied).
  void SetObservation(backend::FunctionObservation o) {
    std::lock_guard<std::mutex> lock(mu_);
    observation_ = std::move(o);
  }
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  backend::FunctionPlan plan(const std::string& ns_name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find(ns_name);
    return it == plans_.end() ? backend::FunctionPlan{} : it->second;
  }
  int observes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return observes_;
  }

 private:
  const std::string name_;
  mutable std::mutex mu_;
  std::vector<std::string> calls_;
  std::map<std::string, backend::FunctionPlan> plans_;
  backend::FunctionObservation observation_ = Running();
  static backend::FunctionObservation Running() {
    backend::FunctionObservation o;
    o.state = "Running";
    return o;
  }
  int observes_ = 0;
};

}  // namespace ofn::testing

#endif  // LIBOFN_TESTING_RECORDING_BACKEND_H_
