#include "libofn/build/builder.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "libofn/common/internal/json_access.h"
#include "libofn/common/log.h"
#include "libofn/store/store.h"

namespace ofn::build {

namespace fs = std::filesystem;
namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

namespace {

constexpr std::string_view kInterrupted = "Interrupted";

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

int64_t Seconds(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string Duration(double secs) {
  char buf[32];
  if (secs < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", secs);
  } else {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(secs) / 60, static_cast<int>(secs) % 60);
  }
  return buf;
}

json::object StatusOf(const store::BuildRecord& r) {
  json::value v = ofn::internal::ParseObjectOrEmpty(r.status);
  return v.is_object() ? v.as_object() : json::object{};
}

// The last `lines` lines of a file.
std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t pos = text.size();
  for (size_t n = 0; n < lines && pos != std::string::npos && pos > 0; ++n) pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

json::value ArtifactJson(const Artifact& a) {
  json::object o;
  o["kind"] = a.kind;
  o["path"] = a.path;
  if (!a.working_dir.empty()) o["workingDir"] = a.working_dir;
  if (!a.command.empty()) {
    json::array cmd;
    for (const std::string& c : a.command) cmd.push_back(json::value(c));
    o["command"] = std::move(cmd);
  }
  if (!a.env.empty()) {
    json::array env;
    for (const auto& [k, v] : a.env) env.push_back(json::object{{"name", k}, {"value", v}});
    o["env"] = std::move(env);
  }
  return o;
}

int RecordNumber(const std::string& function, const std::string& name) {
  std::string prefix = function + "-build-";
  if (name.rfind(prefix, 0) != 0) return 0;
  return std::atoi(name.c_str() + prefix.size());
}

}  // namespace

std::string OutputJson(const BuildOutput& out) {
  json::object o = ArtifactJson(out.artifact).as_object();
  if (!out.image.empty()) o["image"] = out.image;
  o["build"] = out.build;
  o["commit"] = out.commit;
  o["strategy"] = out.strategy;
  return json::serialize(o);
}

std::optional<BuildOutput> OutputOfRecord(const std::string& name, const std::string& status_json) {
  json::value v = ofn::internal::ParseObjectOrEmpty(status_json);
  const json::object* st = Obj(&v);
  const json::object* o = Obj(At(st, "output"));
  if (!o) return std::nullopt;
  BuildOutput out;
  // A cached build serves what the build it reuses made: the same output,
  // so no new revision.
  out.build = Str(st, "cachedFrom").empty() ? name : Str(st, "cachedFrom");
  out.commit = Str(st, "commit");
  out.strategy = Str(st, "strategy");
  out.image = Str(o, "image");
  out.artifact.kind = Str(o, "kind");
  out.artifact.path = Str(o, "path");
  out.artifact.working_dir = Str(o, "workingDir");
  if (const json::array* cmd = Arr(At(o, "command"))) {
    for (const json::value& c : *cmd) out.artifact.command.push_back(c.is_string() ? std::string(c.as_string()) : "");
  }
  if (const json::array* env = Arr(At(o, "env"))) {
    for (const json::value& e : *env) out.artifact.env.emplace_back(Str(Obj(&e), "name"), Str(Obj(&e), "value"));
  }
  return out;
}

Builder::Builder(store::Store* store, Clock* clock, BuildOptions options, std::function<void()> changed,
                 bool ticker)
    : store_(store), clock_(clock), options_(std::move(options)), changed_(std::move(changed)) {
  // Builds that were running when the platform stopped: their records say
  // so, and Ensure starts them again (their half-written directories are
  // removed first; no revision names an unfinished artefact).
  if (auto all = store_->ListBuilds("", ""); all.ok()) {
    for (store::BuildRecord& r : *all) {
      if (r.state != "Building") continue;
      json::object st = StatusOf(r);
      st["reason"] = kInterrupted;
      st["message"] = "the platform stopped during this build; it starts again";
      r.state = "Failed";
      r.status = json::serialize(st);
      r.finished = Seconds(clock_->Now());
      Status put = store_->Transact([&](store::Transaction& tx) { return tx.PutBuild(r); });
      if (!put.ok()) {
      OFN_LOG(kError) << "build: marking " << r.name << " interrupted: " << put.ToString();
    }
    }
  }
  thread_ = std::thread([this] { Loop(); });
  if (ticker) {
    ticker_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) {
        lock.unlock();
        Poll();
        lock.lock();
      }
    });
  }
}

Builder::~Builder() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    stopping_ = true;
    cancel_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (ticker_.joinable()) ticker_.join();
}

BuildView Builder::Ensure(const BuildRequest& request) {
  const std::string key = Key(request.ns, request.function);
  auto records = store_->ListBuilds(request.ns, request.function);
  std::vector<store::BuildRecord> builds = records.ok() ? std::move(*records) : std::vector<store::BuildRecord>{};
  bool waiting = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    forgotten_.erase(key);  // made again before its old builds went: they stay (and may serve as its cache)
    FunctionBuilds& fb = functions_[key];
    const bool key_changed = fb.last && fb.last->key != request.key;
    fb.last = request;
    SourceWatch& w = fb.watch;
    const bool was = w.enabled;
    w.enabled = request.poll_interval.count() > 0;
    if (w.enabled && (!was || w.interval != request.poll_interval)) {
      w.interval = request.poll_interval;
      w.next_poll = clock_->Now() + w.interval;  // the build now fetches anyway
    }
    if (!request.watch_error.empty()) {
      w.error = request.watch_error;
    } else if (w.failures == 0) {
      w.error.clear();
    }
    if (fb.queued) {
      // A waiting build takes the newest request; a running one with an
      // older request is cut short and the new one waits.
      for (Job& j : queue_) {
        if (Key(j.request.ns, j.request.function) == key) j.request = request;
      }
      if (key_changed && running_ == key && std::none_of(queue_.begin(), queue_.end(), [&](const Job& j) {
            return Key(j.request.ns, j.request.function) == key;
          })) {
        cancel_ = true;
        queue_.push_back(Job{request, false, "spec.build changed"});
      }
    } else {
      const store::BuildRecord* newest = builds.empty() ? nullptr : &builds.back();
      json::object st = newest ? StatusOf(*newest) : json::object{};
      bool want = !newest || Str(&st, "key") != request.key || Str(&st, "reason") == kInterrupted;
      if (want) {
        fb.queued = true;
        queue_.push_back(Job{request, false,
                             !newest ? "first build" : Str(&st, "reason") == kInterrupted ? "restarted"
                                                                                         : "spec.build changed"});
        cv_.notify_all();
      }
    }
    // A build asked for and not started yet (a revision controller's poll
    // is no build).
    waiting = std::any_of(queue_.begin(), queue_.end(), [&](const Job& j) {
      return !j.poll && !j.image_poll && Key(j.request.ns, j.request.function) == key;
    });
    // Taken from the queue, and perhaps without its record yet: the newest
    // record read above may be the one before it.
    waiting = waiting || (running_ == key && running_asked_);
  }
  BuildView view;
  for (auto it = builds.rbegin(); it != builds.rend(); ++it) {
    if (it->state == "Succeeded") {
      view.serving = OutputOfRecord(it->name, it->status);
      if (view.serving) break;
    }
  }
  if (!builds.empty()) {
    const store::BuildRecord& newest = builds.back();
    json::object st = StatusOf(newest);
    view.name = newest.name;
    view.state = newest.state;
    view.reason = Str(&st, "reason");
    view.message = Str(&st, "message");
    view.commit = Str(&st, "commit");
    if (const json::value* ms = At(&st, "durationMs"); ms && ms->is_int64()) {
      view.duration = Duration(static_cast<double>(ms->as_int64()) / 1000.0);
    }
  }
  if (waiting && view.state != "Building") {
    // Asked for, not started yet.
    view.state = "Building";
    view.reason = "Queued";
    view.message = "waiting for the build before it to end";
    view.name.clear();
    view.duration.clear();
  }
  return view;
}

Status Builder::Rebuild(const std::string& ns, const std::string& function, bool force, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = functions_.find(Key(ns, function));
  if (it == functions_.end() || !it->second.last) {
    return Status(StatusCode::kNotFound, "function " + ns + "/" + function + " has no build");
  }
  for (Job& j : queue_) {
    if (j.request.ns == ns && j.request.function == function) {
      j.force = j.force || force;
      return Status::Ok();
    }
  }
  it->second.queued = true;
  queue_.push_back(Job{*it->second.last, force, why});
  cv_.notify_all();
  return Status::Ok();
}

void Builder::Forget(const std::string& ns, const std::string& function) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = Key(ns, function);
  functions_.erase(key);
  forgotten_.insert(key);
  cv_.notify_all();
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const Job& j) { return Key(j.request.ns, j.request.function) == key; }),
               queue_.end());
  if (running_ == key) cancel_ = true;
}

Result<std::string> Builder::Log(const std::string& ns, const std::string& function, const std::string& build) const {
  std::string name = build;
  if (name.empty()) {
    auto records = store_->ListBuilds(ns, function);
    if (!records.ok()) return records.status();
    if (records->empty()) return Status(StatusCode::kNotFound, "function " + ns + "/" + function + " has no builds");
    name = records->back().name;
  }
  std::string path = options_.work_dir + "/logs/" + ns + "/" + name + ".log";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, "no log for build " + ns + "/" + name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Builder::Poll() {
  const Clock::TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, fb] : functions_) {
    SourceWatch& w = fb.watch;
    if (!w.enabled || fb.queued || now < w.next_poll) continue;
    if (!fb.last && fb.watch_image.empty()) continue;
    // The next poll is set when this one ends (after a failure, later).
    w.next_poll = Clock::TimePoint::max();
    fb.queued = true;
    if (fb.last) {
      queue_.push_back(Job{*fb.last, false, "revision controller", true, false});
    } else {
      BuildRequest who;
      size_t slash = key.find('/');
      who.ns = key.substr(0, slash);
      who.function = key.substr(slash + 1);
      queue_.push_back(Job{who, false, "revision controller", false, true});
    }
  }
  cv_.notify_all();
}

SourceWatch Builder::WatchOf(const std::string& ns, const std::string& function) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = functions_.find(Key(ns, function));
  return it == functions_.end() ? SourceWatch{} : it->second.watch;
}

SourceSpec Builder::Resolved(const SourceSpec& spec) const {
  SourceSpec source = spec;
  source.url = ApplyMirrors(spec.url, options_.git_mirrors);
  if (source.username.empty() && source.password.empty() && source.ssh_private_key.empty() &&
      !options_.git_credentials_file.empty()) {
    std::ifstream in(options_.git_credentials_file);
    std::ostringstream text;
    text << in.rdbuf();
    CredentialsFromFile(text.str(), source.url, &source.username, &source.password);
  }
  if (source.url.rfind("ssh://", 0) == 0 || source.url.find("@") != std::string::npos) {
    std::string file = options_.ssh_known_hosts;
    if (file.empty()) {
      const char* home = std::getenv("HOME");
      if (home) file = std::string(home) + "/.ssh/known_hosts";
    }
    std::ifstream in(file);
    std::ostringstream text;
    text << in.rdbuf();
    if (!source.known_hosts.empty() && source.known_hosts.back() != '\n') source.known_hosts += '\n';
    source.known_hosts += text.str();
  }
  return source;
}

bool Builder::PollSource(Job* job) {
  const BuildRequest& req = job->request;
  Result<std::string> commit = Status(StatusCode::kFailedPrecondition, "");
  if (!req.bundle_image.empty()) {
    ImageSource source;
    {
      std::lock_guard<std::mutex> lock(mu_);
      source = image_source_;
    }
    commit = source.resolve ? source.resolve(req.bundle_image, req.image_credentials)
                            : Result<std::string>(Status(StatusCode::kFailedPrecondition,
                                                         "a bundleContainer source needs the containerd backend"));
  } else {
    commit = RemoteCommit(Resolved(req.source));
  }
  std::string built;
  if (auto records = store_->ListBuilds(req.ns, req.function); records.ok() && !records->empty()) {
    json::object st = StatusOf(records->back());
    built = Str(&st, "commit");
  }
  const Clock::TimePoint now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = functions_.find(Key(req.ns, req.function));
  if (it == functions_.end()) return false;
  SourceWatch& w = it->second.watch;
  ++w.polls;
  w.last_poll = now;
  if (!commit.ok()) {
    // Back off: twice the interval per failure in a row, at most an hour.
    ++w.failures;
    auto wait = w.interval * (1LL << std::min<uint64_t>(w.failures, 6));
    wait = std::min<std::chrono::milliseconds>(wait, std::chrono::hours(1));
    w.next_poll = now + wait;
    w.error = "polling " + req.source.url + " failed (" + std::to_string(w.failures) + " in a row; next in " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
              "s): " + commit.status().message();
    return false;
  }
  w.failures = 0;
  w.error = req.watch_error;
  w.last_commit = *commit;
  w.next_poll = now + w.interval;
  if (*commit == built) return false;
  job->why = "new commit " + commit->substr(0, 12) + " (revision controller)";
  return true;
}

void Builder::SetImageMaker(ImageMaker maker) {
  std::lock_guard<std::mutex> lock(mu_);
  image_maker_ = std::move(maker);
}

void Builder::SetImageSource(ImageSource source) {
  std::lock_guard<std::mutex> lock(mu_);
  image_source_ = std::move(source);
}

void Builder::WatchImage(const std::string& ns, const std::string& function, const std::string& image,
                         const std::string& docker_config, std::chrono::milliseconds interval, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  FunctionBuilds& fb = functions_[Key(ns, function)];
  SourceWatch& w = fb.watch;
  const bool was = w.enabled;
  w.enabled = interval.count() > 0;
  if (w.enabled && (!was || w.interval != interval || fb.watch_image != image)) {
    w.interval = interval;
    if (fb.watch_image != image) w.last_commit.clear();
    w.next_poll = clock_->Now();  // the first poll at once: the digest pins the revision
  }
  fb.watch_image = image;
  fb.watch_credentials = docker_config;
  if (!error.empty()) {
    w.error = error;
  } else if (w.failures == 0) {
    w.error.clear();
  }
}

void Builder::PollImage(const Job& job) {
  ImageSource source;
  std::string image, credentials;
  {
    std::lock_guard<std::mutex> lock(mu_);
    source = image_source_;
    auto it = functions_.find(Key(job.request.ns, job.request.function));
    if (it == functions_.end()) return;
    image = it->second.watch_image;
    credentials = it->second.watch_credentials;
  }
  Result<std::string> digest = source.resolve
                                   ? source.resolve(image, credentials)
                                   : Result<std::string>(Status(StatusCode::kFailedPrecondition,
                                                                "watching an image needs the containerd backend "
                                                                "(ofn serve --containerd)"));
  const Clock::TimePoint now = clock_->Now();
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = functions_.find(Key(job.request.ns, job.request.function));
    if (it == functions_.end()) return;
    SourceWatch& w = it->second.watch;
    ++w.polls;
    w.last_poll = now;
    if (!digest.ok()) {
      ++w.failures;
      auto wait = std::min<std::chrono::milliseconds>(w.interval * (1LL << std::min<uint64_t>(w.failures, 6)),
                                                      std::chrono::hours(1));
      w.next_poll = now + wait;
      w.error = "resolving " + image + " failed (" + std::to_string(w.failures) + " in a row; next in " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
                "s): " + digest.status().message();
      return;
    }
    w.failures = 0;
    w.error.clear();
    changed = w.last_commit != *digest;
    w.last_commit = *digest;
    w.next_poll = now + w.interval;
  }
  if (changed && changed_) changed_();
}

namespace {

// `text` with a leading host directory replaced by its place in the image.
std::string InImage(const std::string& text, const std::vector<std::pair<std::string, std::string>>& layers) {
  std::string out = text;
  for (const auto& [host, image] : layers) {
    for (size_t at = out.find(host); at != std::string::npos; at = out.find(host, at + image.size())) {
      const size_t end = at + host.size();
      if (end < out.size() && out[end] != '/' && out[end] != ':') continue;
      out.replace(at, host.size(), image);
    }
  }
  return out;
}

}  // namespace

bool Builder::Idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return queue_.empty() && running_.empty() && forgotten_.empty(); });
}

void Builder::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !forgotten_.empty(); });
    if (stop_) break;
    if (!forgotten_.empty()) {
      std::set<std::string> gone;
      gone.swap(forgotten_);
      running_ = "(cleanup)";
      lock.unlock();
      for (const std::string& key : gone) {
        size_t slash = key.find('/');
        RemoveBuilds(key.substr(0, slash), key.substr(slash + 1));
      }
      lock.lock();
      running_.clear();
      cv_.notify_all();
      continue;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    running_ = Key(job.request.ns, job.request.function);
    running_asked_ = !job.poll && !job.image_poll;
    cancel_ = false;
    lock.unlock();
    bool build = false;
    if (job.image_poll) {
      PollImage(job);
    } else {
      build = !job.poll || PollSource(&job);
      if (build) Run(job);
    }
    lock.lock();
    const std::string key = running_;
    running_.clear();
    auto it = functions_.find(key);
    if (it != functions_.end()) {
      it->second.queued = std::any_of(queue_.begin(), queue_.end(), [&](const Job& j) {
        return Key(j.request.ns, j.request.function) == key;
      });
    }
    cv_.notify_all();
    lock.unlock();
    if (build && changed_) changed_();
    lock.lock();
  }
}

void Builder::Run(const Job& job) {
  const BuildRequest& req = job.request;
  const auto started_mono = std::chrono::steady_clock::now();
  auto listed = store_->ListBuilds(req.ns, req.function);
  int number = 0;
  if (listed.ok()) {
    for (const store::BuildRecord& r : *listed) number = std::max(number, RecordNumber(req.function, r.name));
  }
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%05d", number + 1);
  store::BuildRecord rec;
  rec.ns = req.ns;
  rec.function = req.function;
  rec.name = req.function + "-build-" + suffix;
  rec.state = "Building";
  rec.started = Seconds(clock_->Now());
  json::object st;
  st["key"] = req.key;
  st["url"] = req.bundle_image.empty() ? req.source.url : req.bundle_image;
  if (!req.source.revision.empty()) st["revision"] = req.source.revision;
  if (!req.source.sub_path.empty()) st["sourceSubPath"] = req.source.sub_path;
  st["trigger"] = job.why;
  auto put = [&](const std::string& reason, const std::string& message) {
    st["reason"] = reason;
    st["message"] = message;
    rec.status = json::serialize(st);
    Status s = store_->Transact([&](store::Transaction& tx) { return tx.PutBuild(rec); });
    if (!s.ok()) {
      OFN_LOG(kError) << "build: storing " << rec.name << ": " << s.ToString();
    } else {
      // Its record says what it is from now on: a view taken after the
      // build ended (before this loop lets go of it) reads Succeeded, not
      // a build still waiting beside a served output.
      std::lock_guard<std::mutex> lock(mu_);
      running_asked_ = false;
    }
    if (changed_) changed_();
  };
  put("Fetching", "fetching " + (req.bundle_image.empty() ? req.source.url : req.bundle_image));

  const std::string ns_dir = "/" + req.ns + "/";
  const std::string src_dir = options_.work_dir + "/src" + ns_dir + rec.name;
  const std::string out_dir = options_.work_dir + "/artifacts" + ns_dir + rec.name;
  const std::string log_path = options_.work_dir + "/logs" + ns_dir + rec.name + ".log";
  std::error_code ec;
  fs::remove_all(src_dir, ec);
  fs::remove_all(out_dir, ec);
  fs::create_directories(fs::path(src_dir).parent_path(), ec);
  fs::create_directories(fs::path(out_dir).parent_path(), ec);
  fs::create_directories(fs::path(log_path).parent_path(), ec);
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  auto log = [&](const std::string& line) {
    if (log_fd < 0) return;
    std::string text = "[" + FormatRfc3339(clock_->Now()) + "] " + line + "\n";
    [[maybe_unused]] ssize_t n = ::write(log_fd, text.data(), text.size());
  };
  auto finish = [&](const std::string& state, const std::string& reason, const std::string& message) {
    rec.state = state;
    rec.finished = Seconds(clock_->Now());
    st["durationMs"] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                            started_mono)
                           .count();
    log(state + ": " + message);
    if (log_fd >= 0) ::close(log_fd);
    fs::remove_all(src_dir, ec);
    if (state != "Succeeded" && rec.image != out_dir) fs::remove_all(out_dir, ec);
    put(reason, message);
    Prune(req);
  };
  log("build " + rec.name + " of " + req.ns + "/" + req.function + " (" + job.why + ")");

  // 1. The source.
  SourceSpec source = Resolved(req.source);
  if (source.url != req.source.url) log("mirror: " + req.source.url + " is fetched from " + source.url);
  Result<FetchedSource> fetched = Status(StatusCode::kInternal, "");
  if (!req.bundle_image.empty()) {
    // A source bundle: the files of an image (pulled first).
    ImageSource images;
    {
      std::lock_guard<std::mutex> lock(mu_);
      images = image_source_;
    }
    if (!images.resolve || !images.extract) {
      fetched = Status(StatusCode::kFailedPrecondition,
                       "spec.build.srcRepo.bundleContainer needs the containerd backend (ofn serve --containerd)");
    } else if (Result<std::string> got = [&]() -> Result<std::string> {
                 // Pulled when its registry answers; else the copy containerd has.
                 Result<std::string> pulled = images.resolve(req.bundle_image, req.image_credentials);
                 if (!pulled.ok()) log("pulling " + req.bundle_image + ": " + pulled.status().message());
                 Result<std::string> extracted = images.extract(req.bundle_image, req.source.sub_path, src_dir);
                 if (!extracted.ok() && !pulled.ok()) {
                   return Status(pulled.status().code(),
                                 pulled.status().message() + "; and containerd has no copy: " + extracted.status().message());
                 }
                 return extracted;
               }();
               !got.ok()) {
      fetched = Status(got.status().code(), "spec.build.srcRepo.bundleContainer.image " + req.bundle_image + ": " +
                                                got.status().message());
    } else {
      FetchedSource f;
      f.url = req.bundle_image;
      f.commit = *got;
      f.log = "unpacked " + req.bundle_image + " (" + *got + ")" +
              (req.source.sub_path.empty() ? "" : ", " + req.source.sub_path) + "\n";
      fetched = std::move(f);
    }
  } else {
    fetched = FetchSource(source, options_.work_dir + "/repos", src_dir);
  }
  if (!fetched.ok()) {
    finish("Failed", fetched.status().code() == StatusCode::kPermissionDenied ? "AuthenticationFailed" : "FetchFailed",
           fetched.status().message());
    return;
  }
  for (std::istringstream lines(fetched->log); !lines.eof();) {
    std::string line;
    std::getline(lines, line);
    if (!line.empty()) log(line);
  }
  st["commit"] = fetched->commit;
  if (cancel_) {
    if (stopping_) {
      finish("Failed", std::string(kInterrupted), "the platform stopped during this build; it starts again");
    } else {
      finish("Failed", "Cancelled", "cancelled: a newer build replaces it");
    }
    return;
  }

  // 2. The strategy.
  BuildInput in;
  in.ns = req.ns;
  in.function = req.function;
  in.source_dir = src_dir;
  in.out_dir = out_dir;
  in.env = req.env;
  in.builder = req.builder;
  in.dockerfile = req.dockerfile;
  in.shipwright_strategy = req.shipwright_strategy;
  in.serving_command = req.serving_command;
  in.log_fd = log_fd;
  in.deadline = started_mono + (req.timeout.count() > 0 ? req.timeout : options_.timeout);
  in.cancel = &cancel_;
  in.options = &options_;
  in.image = req.image;
  Result<std::string> strategy = ChooseStrategy(in);
  if (!strategy.ok()) {
    finish("Failed", "NoStrategy", strategy.status().message());
    return;
  }
  st["strategy"] = *strategy;
  log("strategy: " + *strategy);

  // 3. The cache: the same commit, sub-path, strategy and inputs built before.
  std::string inputs = fetched->commit + "\n" + req.source.sub_path + "\n" + *strategy + "\n" + req.builder + "\n" +
                       req.dockerfile + "\n";
  for (const auto& [k, v] : req.env) inputs += k + "=" + v + "\n";
  for (const std::string& c : req.serving_command) inputs += c + "\n";
  rec.source_hash = Sha256Hex(inputs);
  if (!job.force && listed.ok()) {
    for (auto it = listed->rbegin(); it != listed->rend(); ++it) {
      if (it->state != "Succeeded" || it->source_hash != rec.source_hash) continue;
      std::optional<BuildOutput> earlier = OutputOfRecord(it->name, it->status);
      if (!earlier || !fs::exists(earlier->artifact.path, ec)) continue;
      rec.image = it->image;
      st["output"] = ArtifactJson(earlier->artifact);
      st["cachedFrom"] = it->name;
      finish("Succeeded", "Cached", "commit " + fetched->commit.substr(0, 12) + " was built by " + it->name +
                                        "; its " + earlier->artifact.kind + " is reused");
      return;
    }
  }

  // 4. The build.
  put("Building", *strategy + ": building commit " + fetched->commit.substr(0, 12));
  Result<Artifact> artifact = RunStrategy(*strategy, in);
  if (!artifact.ok()) {
    const Status& s = artifact.status();
    std::string reason = s.code() == StatusCode::kDeadlineExceeded ? "Timeout"
                         : stopping_                                ? std::string(kInterrupted)
                         : cancel_                                  ? "Cancelled"
                                                                    : "BuildFailed";
    if (log_fd >= 0) ::fsync(log_fd);
    std::string message = s.message();
    if (reason == "BuildFailed" && message.find("(exit code") != std::string::npos) {
      // A step failed: what it printed last says why.
      std::string tail = Tail(log_path, 20);
      if (!tail.empty()) message += "\n" + tail;
    }
    finish("Failed", reason, message);
    return;
  }
  rec.image = out_dir;
  st["output"] = ArtifactJson(*artifact);
  if (req.image) {
    // 5. For containerd: the bundle (and the framework it runs with) as
    // layers on the run image.
    if (artifact->kind == "library") {
      finish("Failed", "NoImage",
             "a " + artifact->kind + " runs in the platform's process, not in a container: the " + *strategy +
                 " strategy cannot serve a Function on containerd (ofn.io/backend: containerd)");
      return;
    }
    ImageMaker maker;
    {
      std::lock_guard<std::mutex> lock(mu_);
      maker = image_maker_;
    }
    if (!maker) {
      finish("Failed", "NoImage",
             "the Function runs on containerd (ofn.io/backend: containerd) and this platform has no containerd "
             "backend (ofn serve --containerd)");
      return;
    }
    ImageInput image;
    if (artifact->kind == "image") image.archive = artifact->path;
    if (artifact->kind == "bundle") image.layers.emplace_back(out_dir, "/workspace");
    for (const auto& entry : artifact->env) {
      const std::string& v = entry.second;
      // A framework the bundle runs with (PYTHONPATH, the Node.js framework's file) goes in too.
      for (size_t start = 0; start <= v.size();) {
        size_t colon = v.find(':', start);
        std::string part = v.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
        start = colon == std::string::npos ? v.size() + 1 : colon + 1;
        if (part.empty() || part[0] != '/' || part.rfind(out_dir, 0) == 0 || !fs::is_directory(part, ec)) continue;
        image.layers.emplace_back(part, "/ofn/lib" + std::to_string(image.layers.size()));
      }
    }
    for (const std::string& c : artifact->command) {
      fs::path p(c);
      if (p.is_absolute() && c.rfind(out_dir, 0) != 0 && fs::is_regular_file(p, ec) &&
          c.find("/bindings/") != std::string::npos) {
        image.layers.emplace_back(p.parent_path().string(), "/ofn/lib" + std::to_string(image.layers.size()));
      }
    }
    for (const std::string& c : artifact->command) image.command.push_back(InImage(c, image.layers));
    for (const auto& [k, v] : artifact->env) image.env.emplace_back(k, InImage(v, image.layers));
    if (artifact->kind == "bundle") {
      image.working_dir = InImage(artifact->working_dir.empty() ? out_dir : artifact->working_dir, image.layers);
    }
    image.base = req.run_image;
    image.push_to = req.push_to;
    image.push_credentials = req.push_credentials;
    image.name = "ofn.build/" + req.ns + "/" + req.function + ":" + rec.name;
    const std::string on = !image.archive.empty()    ? std::string("from the Dockerfile build")
                           : req.run_image.empty() ? std::string("on an empty rootfs")
                                                   : "on " + req.run_image;
    put("Building", "image " + image.name + " " + on);
    log("image " + image.name + " " + on);
    Result<std::string> made = maker(image);
    if (!made.ok()) {
      finish("Failed", "ImageFailed", "making the image: " + made.status().message());
      return;
    }
    log("image: " + *made + (req.push_to.empty() ? "" : ", pushed to " + req.push_to));
    st["output"].as_object()["image"] = *made;
  }
  std::string made_image = Str(Obj(At(&st, "output")), "image");
  finish("Succeeded", "Succeeded",
         *strategy + ": built commit " + fetched->commit.substr(0, 12) + " into " +
             (made_image.empty() ? artifact->kind + " " + artifact->path : "image " + made_image));
}

void Builder::RemoveBuilds(const std::string& ns, const std::string& function) {
  {
    // Made again meanwhile: its builds stay.
    std::lock_guard<std::mutex> lock(mu_);
    if (functions_.count(Key(ns, function))) return;
  }
  auto listed = store_->ListBuilds(ns, function);
  if (!listed.ok()) return;
  std::error_code ec;
  for (const store::BuildRecord& r : *listed) {
    Status del = store_->Transact([&](store::Transaction& tx) { return tx.DeleteBuild(r.ns, r.name); });
    if (!del.ok()) {
      OFN_LOG(kWarning) << "build: deleting record " << r.name << ": " << del.ToString();
      continue;
    }
    if (!r.image.empty()) fs::remove_all(r.image, ec);
    fs::remove_all(options_.work_dir + "/artifacts/" + r.ns + "/" + r.name, ec);
    fs::remove(options_.work_dir + "/logs/" + r.ns + "/" + r.name + ".log", ec);
  }
}

void Builder::Prune(const BuildRequest& req) {
  auto listed = store_->ListBuilds(req.ns, req.function);
  if (!listed.ok()) return;
  // Newest first. The newest successful build serves and is always kept;
  // beyond it, successfulBuildsHistoryLimit successes and
  // failedBuildsHistoryLimit failures are.
  std::set<std::string> doomed;
  bool served = false;
  int succeeded = 0, failed = 0;
  for (auto it = listed->rbegin(); it != listed->rend(); ++it) {
    if (it->state == "Building") continue;
    if (it->state == "Succeeded") {
      if (!served) {
        served = true;
        continue;
      }
      if (++succeeded <= req.successful_history) continue;
    } else if (++failed <= req.failed_history) {
      continue;
    }
    doomed.insert(it->name);
  }
  std::set<std::string> kept_dirs;
  for (const store::BuildRecord& r : *listed) {
    if (doomed.count(r.name)) {
      Status del = store_->Transact([&](store::Transaction& tx) { return tx.DeleteBuild(r.ns, r.name); });
      if (!del.ok()) {
        OFN_LOG(kWarning) << "build: deleting record " << r.name << ": " << del.ToString();
        kept_dirs.insert(r.image);
        continue;
      }
      std::error_code ec;
      fs::remove(options_.work_dir + "/logs/" + r.ns + "/" + r.name + ".log", ec);
    } else if (!r.image.empty()) {
      kept_dirs.insert(r.image);
    }
  }
  // Artefacts no record and no revision names any more go (a revision
  // keeps what it runs until it is collected; the next prune sweeps it).
  std::string revision_specs;
  if (auto revisions = store_->ListRevisions(req.ns, req.function); revisions.ok()) {
    for (const store::RevisionRecord& r : *revisions) revision_specs += r.spec;
  } else {
    return;
  }
  std::error_code ec;
  const std::string prefix = req.function + "-build-";
  for (const auto& entry : fs::directory_iterator(options_.work_dir + "/artifacts/" + req.ns, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.find_first_not_of("0123456789", prefix.size()) != std::string::npos) {
      continue;
    }
    const std::string dir = entry.path().string();
    if (kept_dirs.count(dir) || revision_specs.find(dir + "/") != std::string::npos) continue;
    std::error_code rm;
    fs::remove_all(dir, rm);
  }
}

}  // namespace ofn::build
