// The process backend with real processes: start, environment, probes,
// crash + restart with backoff, stop without orphans (checked in /proc),
// streaming large bodies with bounded memory, 502/504, logs, limits and
// cold starts after scale to zero.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "libofn/backends/process/process.h"
#include "libofn/gateway/client.h"
#include "libofn/platform/platform.h"
#include "libofn/testing/loopback.h"
#include "tests/unit/test_util.h"

extern char** environ;

namespace ofn {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;

std::string Marker() {
  std::random_device rd;
  return "ofn-test-" + std::to_string(rd()) + std::to_string(::getpid());
}

Platform::Options Opts(const std::string& dir) {
  Platform::Options o;
  o.state_dir = dir;
  o.gateway_address = "127.0.0.1:0";
  o.process.grace = seconds(2);
  o.process.backoff_base = milliseconds(100);
  o.process.backoff_cap = milliseconds(400);
  return o;
}

// A Function running tests/data/process/behave.py. `container_extra` goes
// under the function container, `serving_extra` under serving.
std::string Behave(const std::string& name, const std::string& container_extra = "",
                   const std::string& serving_extra = "", const std::string& env_extra = "",
                   const std::string& template_extra = "") {
  return "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: " + name +
         "\nspec:\n  version: v2.1.0\n  image: local/behave:latest\n  serving:\n    params:\n      GREETING: hi\n" +
         serving_extra +
         "    triggers:\n      http:\n        port: 8080\n    template:\n" + template_extra + "      containers:\n"
         "        - name: function\n          command: [\"/usr/bin/python3\", \"" +
         testing::DataPath("process/behave.py") + "\"]\n          env:\n            - name: FROM_ENV\n              value: yes-it-is\n" +
         env_extra + container_extra;
}

// A revision's log once `done` holds for it (the supervisor drains an
// instance's output every few ms), or as it is after 10 s.
std::string LogWhen(const std::string& path, const std::function<bool(const std::string&)>& done) {
  auto until = std::chrono::steady_clock::now() + seconds(10);
  std::string log = testing::ReadFile(path);
  while (!done(log) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(10));
    log = testing::ReadFile(path);
  }
  return log;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(needle, pos)) != std::string::npos; ++pos) ++n;
  return n;
}

HttpResponse Get(Platform& p, const std::string& fn, const std::string& path, seconds timeout = seconds(20)) {
  HttpRequest req;
  req.target = path;
  req.headers.Set("Host", fn + ".default.ofn.io");
  auto r = gateway::HttpCall(p.gateway_address(), req, timeout);
  if (!r.ok()) {
    HttpResponse failed;
    failed.status = 0;
    failed.body = r.status().ToString();
    return failed;
  }
  return *r;
}

Result<FunctionInfo> WaitRunning(Platform& p, const std::string& name, seconds timeout = seconds(20)) {
  return p.WaitFor(
      name, [](const FunctionInfo& f) { return f.serving_state == "Running" || f.serving_state == "Failed"; }, timeout);
}

// Pids of live processes whose environment holds `marker`.
// Processes whose environment carries the marker: the function's and, with
// `shims`, the ofn-shim supervisors (started with the function's environment).
std::set<int> ProcessesWithMarker(const std::string& marker, bool shims = true) {
  std::set<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream f(e.path() / "environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (env.find("OFN_TEST_MARKER=" + marker) == std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string stat;
    std::getline(st, stat);
    size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;  // zombie
    if (!shims && stat.find("(ofn-shim)") != std::string::npos) continue;
    out.insert(std::stoi(name));
  }
  return out;
}

// /proc/PID/stat's fields after the command name.
std::string StatOf(int pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(st, stat);
  return stat;
}

int ParentOf(int pid) {
  std::string stat = StatOf(pid);
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 4 >= stat.size()) return -1;
  return std::atoi(stat.c_str() + close + 4);  // ") S PPID"
}

std::vector<int> ChildrenNamed(int parent, const std::string& comm) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    int pid = std::stoi(name);
    if (StatOf(pid).find("(" + comm + ")") != std::string::npos && ParentOf(pid) == parent) out.push_back(pid);
  }
  return out;
}

bool WaitNoMarker(const std::string& marker, seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (ProcessesWithMarker(marker).empty()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return ProcessesWithMarker(marker).empty();
}

std::string MarkerEnv(const std::string& marker) {
  return "            - name: OFN_TEST_MARKER\n              value: " + marker + "\n";
}

long PeakRssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void ResetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

int GatewayPort(Platform& p) { return ofn::testing::PortOf(p.gateway_address()); }
using ofn::testing::SendAll;
int Connect(int port) { return ofn::testing::ConnectLoopback(port); }

// Reads a whole response, counting body bytes instead of keeping them.
struct Counted {
  int status = 0;
  std::string head;
  std::string body_start;  // first bytes of the body (<= 4 KiB)
  uint64_t body_bytes = 0;
};
Counted ReadCounted(int fd) {
  Counted c;
  std::string buf;
  char tmp[65536];
  while (c.head.empty()) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return c;
    buf.append(tmp, static_cast<size_t>(n));
    size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      c.head = buf.substr(0, end + 4);
      buf.erase(0, end + 4);
    }
  }
  c.status = std::atoi(c.head.c_str() + 9);
  // Chunked or until close: count everything after the head, minus chunk
  // framing for chunked (approximate framing removal is enough for counts).
  bool chunked = c.head.find("chunked") != std::string::npos;
  std::string pending = buf;
  uint64_t chunk_left = 0;
  auto consume = [&](std::string& data) -> bool {  // returns true at the end
    size_t pos = 0;
    while (pos < data.size()) {
      if (!chunked) {
        c.body_bytes += data.size() - pos;
        if (c.body_start.size() < 4096) c.body_start += data.substr(pos, 4096 - c.body_start.size());
        pos = data.size();
        break;
      }
      if (chunk_left > 0) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(chunk_left, data.size() - pos));
        if (c.body_start.size() < 4096) c.body_start += data.substr(pos, std::min(take, 4096 - c.body_start.size()));
        c.body_bytes += take;
        chunk_left -= take;
        pos += take;
        continue;
      }
      size_t eol = data.find("\r\n", pos);
      if (eol == std::string::npos) break;
      if (eol == pos) {  // CRLF after a chunk
        pos += 2;
        continue;
      }
      chunk_left = std::stoull(data.substr(pos, eol - pos), nullptr, 16);
      pos = eol + 2;
      if (chunk_left == 0) return true;
    }
    data.erase(0, pos);
    return false;
  };
  const size_t cl = c.head.find("Content-Length: ");
  auto complete = [&] { return !chunked && cl != std::string::npos && c.body_bytes >= std::stoull(c.head.substr(cl + 16)); };
  if (consume(pending) || complete()) return c;
  for (;;) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    pending.append(tmp, static_cast<size_t>(n));
    if (consume(pending) || complete()) break;
  }
  return c;
}

TEST(ProcessTest, StartsWithContextPortParamsAndProxiesWithForwardedHeaders) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.trusted_proxies = {"127.0.0.1"};  // the test client stands in for a proxy
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Apply(Behave("envy")).ok());
  auto info = WaitRunning(**p, "envy");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->serving_state, "Running") << info->serving_message;

  HttpRequest req;
  req.target = "/env?x=1";
  req.headers.Set("Host", "envy.default.ofn.io:8080");
  req.headers.Set("Connection", "keep-alive, X-Hop-Secret");
  req.headers.Set("X-Hop-Secret", "must not pass");
  req.headers.Set("Keep-Alive", "timeout=5");
  req.headers.Set("TE", "trailers");
  req.headers.Set("X-Forwarded-For", "10.1.2.3");
  req.headers.Set("X-Kept", "kept");
  auto r = gateway::HttpCall((*p)->gateway_address(), req, seconds(20));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 200) << r->body;
  json::object got = json::parse(r->body).as_object();
  const json::object& env = got["env"].as_object();
  int port = std::stoi(std::string(env.at("PORT").as_string()));
  EXPECT_GT(port, 0);
  EXPECT_EQ(env.at("GREETING").as_string(), "hi");          // serving.params
  EXPECT_EQ(env.at("FROM_ENV").as_string(), "yes-it-is");  // container env
  json::object ctx = json::parse(env.at("FUNC_CONTEXT").as_string()).as_object();
  EXPECT_EQ(ctx["name"].as_string(), "envy");
  EXPECT_EQ(ctx["version"].as_string(), "v2.1.0");
  EXPECT_EQ(ctx["port"].as_string(), std::to_string(port));
  EXPECT_EQ(ctx["runtime"].as_string(), "Knative");
  EXPECT_EQ(ctx["triggers"].at("http").at("port").as_int64(), port);
  EXPECT_EQ(got["path"].as_string(), "/env?x=1");
  std::map<std::string, std::string> headers;
  for (const json::value& h : got["headers"].as_array()) {
    std::string name(h.as_array()[0].as_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[name] = std::string(h.as_array()[1].as_string());
  }
  EXPECT_EQ(headers["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
  EXPECT_EQ(headers["x-forwarded-host"], "envy.default.ofn.io:8080");
  EXPECT_EQ(headers["x-forwarded-proto"], "http");
  EXPECT_EQ(headers["x-kept"], "kept");
  EXPECT_EQ(headers.count("x-hop-secret"), 0u);
  EXPECT_EQ(headers.count("keep-alive"), 0u);
  EXPECT_EQ(headers.count("te"), 0u);

  // The instance's output is in the revision's log.
  std::string log = LogWhen(dir.path() + "/logs/default/envy-00001.log",
                            [](const std::string& l) { return l.find("GET /env?x=1") != std::string::npos; });
  EXPECT_NE(log.find("behave: starting pid"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /env?x=1"), std::string::npos) << log;
}

TEST(ProcessTest, KeepAliveConnectionsToTheInstanceAreReused) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("pooled")).ok());
  ASSERT_TRUE(WaitRunning(**p, "pooled").ok());
  std::set<std::string> client_ports;
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = Get(**p, "pooled", "/env");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Each request above made a new client connection; the instance logs one
  // line per request, and python's server logs its peer port: count peers.
  const std::string line = "\"GET /env HTTP/1.1\" 200";
  std::string log = LogWhen(dir.path() + "/logs/default/pooled-00001.log",
                            [&](const std::string& l) { return Count(l, line) >= 20; });
  EXPECT_EQ(Count(log, line), 20u);
  // One upstream connection served them all (sequential requests reuse it).
  int fd_sockets = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string().rfind("socket:", 0) == 0) ++fd_sockets;
  }
  EXPECT_LT(fd_sockets, 15) << "upstream connections are not reused";
}

TEST(ProcessTest, HttpGetReadinessProbeGatesTrafficAndTimeoutFailsWithLogTail) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  const std::string probe =
      "          readinessProbe:\n            httpGet:\n              path: /ready\n              port: 8080\n";
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*p)->Apply(Behave("slowready", probe, "", "            - name: READY_AFTER_MS\n              value: \"700\"\n")).ok());
  auto info = WaitRunning(**p, "slowready");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->serving_state, "Running") << info->serving_message;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(700));
  EXPECT_EQ(Get(**p, "slowready", "/").status, 200);

  // Never ready within serving.timeout: Failed, with the log's last lines.
  ASSERT_TRUE((*p)->Apply(Behave("neverready", probe, "    timeout: 1s\n",
                                 "            - name: READY_AFTER_MS\n              value: \"600000\"\n")).ok());
  info = (*p)->WaitFor("neverready", [](const FunctionInfo& f) { return f.serving_state == "Failed"; }, seconds(20));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->serving_reason, "StartFailed");
  EXPECT_NE(info->serving_message.find("did not become ready within 1000ms"), std::string::npos) << info->serving_message;
  EXPECT_NE(info->serving_message.find("httpGet /ready"), std::string::npos) << info->serving_message;
  EXPECT_NE(info->serving_message.find("\"GET /ready HTTP/1.1\" 503"), std::string::npos) << info->serving_message;

  // A process that exits before it listens.
  ASSERT_TRUE((*p)->Apply(Behave("quitter", "", "", "            - name: EXIT_AT_START\n              value: \"3\"\n")).ok());
  info = (*p)->WaitFor("quitter", [](const FunctionInfo& f) { return f.serving_state == "Failed"; }, seconds(20));
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->serving_message.find("exited with code 3 before it was ready"), std::string::npos)
      << info->serving_message;
  EXPECT_NE(info->serving_message.find("behave: exiting with 3 as asked"), std::string::npos) << info->serving_message;

  // A command that does not exist.
  std::string missing = Behave("missing");
  missing.replace(missing.find("/usr/bin/python3"), 16, "/nonexistent/bin/x");
  ASSERT_TRUE((*p)->Apply(missing).ok());
  info = (*p)->WaitFor("missing", [](const FunctionInfo& f) { return f.serving_state == "Failed"; }, seconds(20));
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->serving_message.find("/nonexistent/bin/x"), std::string::npos) << info->serving_message;

  // A workingDir that does not exist is named, not the command.
  ASSERT_TRUE((*p)->Apply(Behave("nodir", "          workingDir: no/such/dir\n")).ok());
  info = (*p)->WaitFor("nodir", [](const FunctionInfo& f) { return f.serving_state == "Failed"; }, seconds(20));
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->serving_message.find("workingDir \"no/such/dir\" is not a directory (a relative workingDir is "
                                       "taken from the manifest's directory when `ofn apply -f` or `ofn serve -f` "
                                       "gave it, else from the directory the platform runs in"),
            std::string::npos)
      << info->serving_message;
}

TEST(ProcessTest, CrashedInstanceRestartsWithBackoffAndShowsCrashLoopBackOff) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("crashy", "", "    scaleOptions:\n      minReplicas: 1\n")).ok());
  ASSERT_TRUE(WaitRunning(**p, "crashy").ok());
  json::object first = json::parse(Get(**p, "crashy", "/env").body).as_object();

  // Two crashes in a row: the second one backs off longer and says so.
  for (int crash = 1; crash <= 2; ++crash) {
    HttpResponse r = Get(**p, "crashy", "/crash");
    EXPECT_EQ(r.status, 502) << r.body;  // closed before answering
    auto info = (*p)->WaitFor(
        "crashy", [](const FunctionInfo& f) { return !f.serving_reason.empty(); }, seconds(10));
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->serving_reason, crash == 1 ? "InstanceCrashed" : "CrashLoopBackOff") << info->serving_message;
    EXPECT_NE(info->serving_message.find("exited with code 1"), std::string::npos) << info->serving_message;
    EXPECT_NE(info->serving_message.find(crash == 1 ? "back-off 100ms" : "back-off 200ms"), std::string::npos)
        << info->serving_message;
    EXPECT_NE(info->serving_message.find("behave: crashing as asked"), std::string::npos);
    // Requests during the back-off wait for the instance and are served.
    HttpResponse after = Get(**p, "crashy", "/env");
    EXPECT_EQ(after.status, 200) << after.body;
    info = (*p)->WaitFor("crashy", [](const FunctionInfo& f) { return f.serving_reason.empty(); }, seconds(10));
    ASSERT_TRUE(info.ok());
  }
  json::object now = json::parse(Get(**p, "crashy", "/env").body).as_object();
  EXPECT_EQ(now["env"].at("PORT"), first["env"].at("PORT"));  // same instance, restarted in place
  auto revs = (*p)->Revisions("crashy");
  ASSERT_TRUE(revs.ok());
  ASSERT_EQ(revs->size(), 1u);
  EXPECT_EQ((*revs)[0].restarts, 2);
}

TEST(ProcessTest, FailingLivenessProbeRestartsTheInstance) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  const std::string probe =
      "          livenessProbe:\n            httpGet:\n              path: /alive\n              port: 8080\n"
      "            periodSeconds: 1\n            failureThreshold: 2\n";
  ASSERT_TRUE((*p)->Apply(Behave("zombie", probe, "    scaleOptions:\n      minReplicas: 1\n",
                                 "            - name: LIVE_FOR_MS\n              value: \"500\"\n"))
                  .ok());
  ASSERT_TRUE(WaitRunning(**p, "zombie").ok());
  auto t0 = std::chrono::steady_clock::now();
  auto info = (*p)->WaitFor("zombie", [](const FunctionInfo& f) { return !f.serving_reason.empty(); }, seconds(15));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(1500));  // two failed probes a second apart
  EXPECT_NE(info->serving_message.find("failed its liveness probe 2 times"), std::string::npos) << info->serving_message;
  // It comes back (and fails again later; that is what it does).
  EXPECT_EQ(Get(**p, "zombie", "/env").status, 200);
  std::string log = LogWhen(dir.path() + "/logs/default/zombie-00001.log",
                            [](const std::string& l) { return l.find("GET /alive HTTP/1.1\" 500") != std::string::npos; });
  EXPECT_NE(log.find("GET /alive HTTP/1.1\" 500"), std::string::npos);
}

TEST(ProcessTest, StopTermsThenKillsTheWholeGroupAndLeavesNoOrphans) {
  std::string marker = Marker();
  {
    TempDir dir;
    Platform::Options o = Opts(dir.path());
    auto p = Platform::Open(o);
    ASSERT_TRUE(p.ok());
    // One that forks a child, one that also ignores SIGTERM (killed after
    // the grace period).
    std::string env = MarkerEnv(marker) + "            - name: FORK_CHILD\n              value: \"1\"\n";
    ASSERT_TRUE((*p)->Apply(Behave("forker", "", "", env)).ok());
    auto applied = (*p)->Apply(Behave("stubborn", "", "", env + "            - name: IGNORE_TERM\n              value: \"1\"\n",
                                      "      terminationGracePeriodSeconds: 1\n"));
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
    ASSERT_TRUE(WaitRunning(**p, "forker").ok());
    ASSERT_TRUE(WaitRunning(**p, "stubborn").ok());
    json::object child = json::parse(Get(**p, "forker", "/child-pid").body).as_object();
    ASSERT_TRUE(child["child"].is_int64());
    // behave.py x2 + the forked `sleep` x2 carry the marker.
    EXPECT_EQ(ProcessesWithMarker(marker, false).size(), 4u);
    auto t0 = std::chrono::steady_clock::now();
    (*p)->Close();
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, milliseconds(900));  // the stubborn one had its grace period
    EXPECT_LT(took, seconds(8));
  }
  EXPECT_TRUE(ProcessesWithMarker(marker).empty());
}

// With the ofn-shim program (beside the library) and without it (OFN_SHIM
// names nothing: the platform forks itself as the shim), a SIGKILL of
// `ofn serve` takes the function's whole process group along.
TEST(ProcessTest, SigkillOfOfnServeTakesItsFunctionProcessesAlong) {
  for (bool shim_program : {true, false}) {
    SCOPED_TRACE(shim_program ? "ofn-shim" : "forked shim");
    std::string marker = Marker();
    TempDir dir;
    std::string manifest = dir.path() + "/fn.yaml";
    {
      std::ofstream f(manifest);
      f << Behave("orphan", "", "    scaleOptions:\n      minReplicas: 1\n",
                  MarkerEnv(marker) + "            - name: FORK_CHILD\n              value: \"1\"\n");
    }
    std::string ofn =
        std::string(std::getenv("OFN_BUILD_ROOT") ? std::getenv("OFN_BUILD_ROOT") : "build") + "/libofn/ofn";
    std::string out = dir.path() + "/serve.out";
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      if (std::string_view(*e).substr(0, 9) != "OFN_SHIM=") env_strings.emplace_back(*e);
    }
    if (!shim_program) env_strings.push_back("OFN_SHIM=" + dir.path() + "/no-such-shim");
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {ofn, "serve", "-f", manifest, "--state-dir", dir.path() + "/st", "--listen",
                                     "127.0.0.1:0", "--admin", "none"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execve(ofn.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    auto until = std::chrono::steady_clock::now() + seconds(30);
    while (ProcessesWithMarker(marker, false).size() < 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    // behave.py and its child (a forked shim has the platform's environment).
    EXPECT_EQ(ProcessesWithMarker(marker).size(), 2u) << testing::ReadFile(out);
    // With the program, behave.py was started directly, held by the guard.
    EXPECT_EQ(ChildrenNamed(pid, "ofn-shim").size(), shim_program ? 1u : 0u);
    for (int leader : ProcessesWithMarker(marker)) {
      if (ParentOf(leader) == pid) {
        EXPECT_TRUE(shim_program) << "behave.py is a child of ofn serve";
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WaitNoMarker(marker, seconds(5))) << "orphans left behind";
  }
}

TEST(ProcessTest, BodyLimitAndChunkedErrorsHoldForProxiedInstances) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));  // max_body_bytes: 8 MiB
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("bulk")).ok());
  ASSERT_TRUE(WaitRunning(**p, "bulk").ok());
  // A Content-Length over the limit is refused before anything is sent.
  int fd = Connect(GatewayPort(**p));
  std::string head = "POST /count HTTP/1.1\r\nHost: bulk.default.ofn.io\r\nContent-Length: 1000000000\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  Counted r = ReadCounted(fd);
  ::close(fd);
  EXPECT_EQ(r.status, 413) << r.head;
  // A chunked body that grows past the limit is cut with 413.
  fd = Connect(GatewayPort(**p));
  head = "POST /count HTTP/1.1\r\nHost: bulk.default.ofn.io\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  std::string chunk = "100000\r\n" + std::string(1 << 20, 'a') + "\r\n";
  for (int i = 0; i < 20; ++i) {
    if (!SendAll(fd, chunk.data(), chunk.size())) break;  // the gateway may close once it has answered
  }
  r = ReadCounted(fd);
  ::close(fd);
  EXPECT_EQ(r.status, 413) << r.head;
  // A malformed chunk size is 400.
  fd = Connect(GatewayPort(**p));
  head = "POST /count HTTP/1.1\r\nHost: bulk.default.ofn.io\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  r = ReadCounted(fd);
  ::close(fd);
  EXPECT_EQ(r.status, 400) << r.head;
  EXPECT_EQ(Get(**p, "bulk", "/").status, 200);
}

TEST(ProcessTest, StreamsAGibibyteBothWaysWithBoundedMemory) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.max_body_bytes = uint64_t{4} << 30;
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("bulk")).ok());
  ASSERT_TRUE(WaitRunning(**p, "bulk").ok());
  ASSERT_EQ(Get(**p, "bulk", "/").status, 200);
  const uint64_t kSize = uint64_t{1} << 30;

  ResetPeakRss();
  long before = PeakRssKb();
  // Upload: 1 GiB with Content-Length, sent from one 1 MiB buffer.
  int fd = Connect(GatewayPort(**p));
  ASSERT_GE(fd, 0);
  std::string head = "POST /count HTTP/1.1\r\nHost: bulk.default.ofn.io\r\nContent-Length: " + std::to_string(kSize) +
                     "\r\nContent-Type: application/octet-stream\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  std::vector<char> block(1 << 20, 'a');
  for (uint64_t sent = 0; sent < kSize; sent += block.size()) ASSERT_TRUE(SendAll(fd, block.data(), block.size()));
  Counted up = ReadCounted(fd);
  ::close(fd);
  EXPECT_EQ(up.status, 200) << up.head;
  EXPECT_NE(up.body_start.find("\"bytes\": " + std::to_string(kSize)), std::string::npos) << up.body_start;

  // Chunked upload.
  fd = Connect(GatewayPort(**p));
  head = "POST /count HTTP/1.1\r\nHost: bulk.default.ofn.io\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  const uint64_t kChunked = 64ull << 20;
  char size_line[32];
  int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", block.size());
  for (uint64_t sent = 0; sent < kChunked; sent += block.size()) {
    ASSERT_TRUE(SendAll(fd, size_line, static_cast<size_t>(n)));
    ASSERT_TRUE(SendAll(fd, block.data(), block.size()));
    ASSERT_TRUE(SendAll(fd, "\r\n", 2));
  }
  ASSERT_TRUE(SendAll(fd, "0\r\n\r\n", 5));
  Counted chunked = ReadCounted(fd);
  ::close(fd);
  EXPECT_EQ(chunked.status, 200);
  EXPECT_NE(chunked.body_start.find("\"bytes\": " + std::to_string(kChunked)), std::string::npos) << chunked.body_start;

  // Download: 256 MiB streamed back (chunked).
  const uint64_t kDown = 256ull << 20;
  fd = Connect(GatewayPort(**p));
  head = "GET /produce?n=" + std::to_string(kDown) + " HTTP/1.1\r\nHost: bulk.default.ofn.io\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, head.data(), head.size()));
  Counted down = ReadCounted(fd);
  ::close(fd);
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.body_bytes, kDown);
  long growth_mb = (PeakRssKb() - before) / 1024;
  RecordProperty("peak_rss_growth_mb", static_cast<int>(growth_mb));
  EXPECT_LT(growth_mb, 128) << "the gateway buffered the body";
}

TEST(ProcessTest, AClientLeavingWhileTheInstanceWorksDropsTheExchangeWithTheInstance) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("holder")).ok());
  ASSERT_TRUE(WaitRunning(**p, "holder").ok());
  const std::string log_path = dir.path() + "/logs/default/holder-00001.log";
  int fd = Connect(GatewayPort(**p));
  ASSERT_GE(fd, 0);
  const std::string req = "GET /hold HTTP/1.1\r\nHost: holder.default.ofn.io\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, req.data(), req.size()));
  std::string log = LogWhen(log_path, [](const std::string& l) { return l.find("behave: holding") != std::string::npos; });
  ASSERT_NE(log.find("behave: holding"), std::string::npos) << log;
  ::close(fd);  // the client goes while the instance holds the request
  log = LogWhen(log_path, [](const std::string& l) { return l.find("behave: the caller") != std::string::npos; });
  EXPECT_NE(log.find("behave: the caller left"), std::string::npos) << log;
  // The instance still serves the next request.
  EXPECT_EQ(Get(**p, "holder", "/slow?ms=1").status, 200);
}

TEST(ProcessTest, ClientConnectionsStayOpenAcrossProxiedPostsUntilConnectionClose) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("posts")).ok());
  ASSERT_TRUE(WaitRunning(**p, "posts").ok());
  int fd = Connect(GatewayPort(**p));
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {
    bool last = i == 2;
    std::string req = "POST /count HTTP/1.1\r\nHost: posts.default.ofn.io\r\nContent-Length: 5\r\n" +
                      std::string(last ? "Connection: close\r\n" : "") + "\r\nhello";
    ASSERT_TRUE(SendAll(fd, req.data(), req.size()));
    Counted r = ReadCounted(fd);
    EXPECT_EQ(r.status, 200) << r.head;
    EXPECT_NE(r.body_start.find("\"bytes\": 5"), std::string::npos) << r.body_start;
    EXPECT_EQ(r.head.find("Connection: close") != std::string::npos, last) << r.head;
  }
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // closed after the Connection: close exchange
  ::close(fd);
}

TEST(ProcessTest, InstanceClosingMidResponseIs502AndSlowOneIs504) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.request_timeout = milliseconds(800);
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("flaky")).ok());
  ASSERT_TRUE(WaitRunning(**p, "flaky").ok());
  HttpResponse cut = Get(**p, "flaky", "/close-mid");
  EXPECT_EQ(cut.status, 502) << cut.body;
  EXPECT_NE(cut.body.find("closed the connection before a complete response header"), std::string::npos) << cut.body;
  // Closed after the header, before the body is complete: still nothing sent
  // to the client, so still a 502 (the header is sent with the first chunk).
  HttpResponse cut_body = Get(**p, "flaky", "/cut-body");
  EXPECT_EQ(cut_body.status, 502) << cut_body.body;
  EXPECT_NE(cut_body.body.find("in the middle of its response"), std::string::npos) << cut_body.body;
  HttpResponse slow = Get(**p, "flaky", "/slow?ms=3000");
  EXPECT_EQ(slow.status, 504) << slow.body;
  EXPECT_NE(slow.body.find("did not answer within 800 ms"), std::string::npos) << slow.body;
  // The instance is still fine for the next request.
  EXPECT_EQ(Get(**p, "flaky", "/slow?ms=10").status, 200);
}

TEST(ProcessTest, StateFilesAreOwnerOnlyInALooseStateDir) {
  TempDir dir;
  const std::string state = dir.path() + "/loose";
  ASSERT_EQ(::mkdir(state.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(state.c_str(), 0755), 0);
  // A store file left with a loose mode (an older version, a copy) is tightened.
  { std::ofstream touch(state + "/state.db"); }
  ASSERT_EQ(::chmod((state + "/state.db").c_str(), 0644), 0);
  Platform::Options o = Opts(dir.path());
  o.state_dir = state;
  o.process.log_dir.clear();  // the default: <state_dir>/logs
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE((*p)->Apply(Behave("private")).ok());
  ASSERT_TRUE(WaitRunning(**p, "private").ok());
  ASSERT_EQ(Get(**p, "private", "/env").status, 200);
  auto mode = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
  };
  EXPECT_EQ(mode(state + "/state.db"), 0600);
  EXPECT_EQ(mode(state + "/state.db-wal"), 0600);
  EXPECT_EQ(mode(state + "/logs"), 0700);
  EXPECT_EQ(mode(state + "/logs/default"), 0700);
  EXPECT_EQ(mode(state + "/logs/default/private-00001.log"), 0600);
  EXPECT_EQ(mode(state), 0755);  // the operator's directory is left as it is (with a warning)
}

TEST(ProcessTest, LogsRotateAtTheSizeCap) {
  TempDir dir;
  Platform::Options o = Opts(dir.path());
  o.process.log_max_bytes = 8 * 1024;
  o.process.log_keep = 2;
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("chatty")).ok());
  ASSERT_TRUE(WaitRunning(**p, "chatty").ok());
  ASSERT_EQ(Get(**p, "chatty", "/spam?n=1000").status, 200);  // ~100 KB of output
  ASSERT_EQ(Get(**p, "chatty", "/env").status, 200);
  std::string base = dir.path() + "/logs/default/chatty-00001.log";
  // The supervisor drains output every few ms; wait for the last request's line.
  auto until = std::chrono::steady_clock::now() + seconds(5);
  while (testing::ReadFile(base).find("GET /env") == std::string::npos && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_NE(testing::ReadFile(base).find("GET /env"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(base + ".1"));
  EXPECT_TRUE(std::filesystem::exists(base + ".2"));
  EXPECT_FALSE(std::filesystem::exists(base + ".3"));
  for (const std::string& f : {base, base + ".1", base + ".2"}) {
    EXPECT_LE(std::filesystem::file_size(f), 8u * 1024) << f;
    std::string text = testing::ReadFile(f);
    // Whole lines only.
    EXPECT_EQ(text.back(), '\n') << f;
  }
  std::string newest = testing::ReadFile(base + ".1");
  EXPECT_NE(newest.find("spam line 000999"), std::string::npos);
}

TEST(ProcessTest, AnOomKilledInstanceSaysOOMKilled) {
  TempDir dir;
  auto p = Platform::Open(Opts(dir.path()));
  ASSERT_TRUE(p.ok());
  const std::string limits = "          resources:\n            limits:\n              memory: 64Mi\n";
  ASSERT_TRUE((*p)->Apply(Behave("hog", limits)).ok());
  auto info = WaitRunning(**p, "hog");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  if (info->serving_reason == "LimitsNotApplied") {
    GTEST_SKIP() << "no memory cgroup here, so no OOM kill: " << info->serving_message;
  }
  HttpResponse r = Get(**p, "hog", "/hog?mb=200");
  EXPECT_EQ(r.status, 502) << r.body;
  auto oom = (*p)->WaitFor("hog", [](const FunctionInfo& f) { return f.serving_reason == "OOMKilled"; }, seconds(20));
  ASSERT_TRUE(oom.ok()) << oom.status().ToString();
  EXPECT_NE(oom->serving_message.find("OOM"), std::string::npos) << oom->serving_message;
  // It comes back and serves; the reason stays to say the limit is too low.
  EXPECT_EQ(Get(**p, "hog", "/").status, 200);
  auto back = (*p)->WaitFor(
      "hog",
      [](const FunctionInfo& f) {
        return f.serving_reason == "OOMKilled" && f.serving_message.find("raise resources.limits.memory") != std::string::npos;
      },
      seconds(20));
  EXPECT_TRUE(back.ok()) << back.status().ToString();
}

TEST(ProcessTest, ResourceLimitsUseACgroupOrSayTheyWereNotApplied) {
  TempDir dir;
  const std::string limits = "          resources:\n            limits:\n              memory: 96Mi\n              cpu: 250m\n";
  {
    Platform::Options o = Opts(dir.path());
    o.process.use_cgroups = false;
    auto p = Platform::Open(o);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE((*p)->Apply(Behave("capped", limits)).ok());
    auto info = (*p)->WaitFor("capped", [](const FunctionInfo& f) { return f.serving_reason == "LimitsNotApplied"; },
                              seconds(20));
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_NE(info->serving_message.find("memory limit 96Mi applied as RLIMIT_AS"), std::string::npos)
        << info->serving_message;
    EXPECT_NE(info->serving_message.find("cpu limit 250m not applied"), std::string::npos) << info->serving_message;
    json::object env = json::parse(Get(**p, "capped", "/env").body).as_object();
    ASSERT_FALSE(env.empty());
  }
  // With cgroups (this machine lets root create them): nothing to report,
  // and the instance sits in a cgroup with the limits.
  TempDir dir2;
  auto p = Platform::Open(Opts(dir2.path()));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("capped", limits + "          args: []\n")).ok());
  auto info = WaitRunning(**p, "capped");
  ASSERT_TRUE(info.ok());
  std::string log = testing::ReadFile(dir2.path() + "/logs/default/capped-00001.log");
  size_t at = log.find("starting pid ");
  ASSERT_NE(at, std::string::npos);
  int pid = std::atoi(log.c_str() + at + 13);
  std::string cgroups = testing::ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
  if (info->serving_reason == "LimitsNotApplied") {
    GTEST_SKIP() << "this machine does not let us create cgroups: " << info->serving_message;
  }
  EXPECT_EQ(info->serving_reason, "") << info->serving_message;
  EXPECT_NE(cgroups.find("/ofn-"), std::string::npos) << cgroups;
  std::string mem_line;
  std::istringstream lines(cgroups);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(":memory:") != std::string::npos) mem_line = line.substr(line.find(":memory:") + 8);
  }
  if (!mem_line.empty()) {
    std::string limit = testing::ReadFile("/sys/fs/cgroup/memory" + mem_line + "/memory.limit_in_bytes");
    EXPECT_EQ(std::stoll(limit), 96ll * 1024 * 1024);
  }
}

TEST(ProcessTest, ColdStartAfterScaleToZeroIsInMetrics) {
  TempDir dir;
  ManualClock clock;
  Platform::Options o = Opts(dir.path());
  o.clock = &clock;
  o.autoscale_ticker = false;
  auto p = Platform::Open(o);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Apply(Behave("sleepy")).ok());
  ASSERT_TRUE(WaitRunning(**p, "sleepy").ok());
  ASSERT_EQ(Get(**p, "sleepy", "/").status, 200);
  // A proxied request ends (for the autoscaler's counts) when the gateway has
  // finished the exchange, which can be just after the client read the last
  // byte: wait for that before moving the clock.
  const std::string idle = "ofn_revision_in_flight{namespace=\"default\",function=\"sleepy\",revision=\"sleepy-00001\"} 0\n";
  auto until = std::chrono::steady_clock::now() + seconds(5);
  while ((*p)->Metrics().find(idle) == std::string::npos && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_NE((*p)->Metrics().find(idle), std::string::npos);
  // Idle: one stable window (60 s) plus the 30 s grace takes it to zero.
  for (int i = 0; i < 50; ++i) {
    clock.Advance(seconds(2));
    (*p)->Autoscale();
  }
  auto revs = (*p)->Revisions("sleepy");
  ASSERT_TRUE(revs.ok());
  ASSERT_EQ(revs->size(), 1u);
  EXPECT_EQ((*revs)[0].ready_instances, 0) << (*p)->Metrics();
  HttpResponse r = Get(**p, "sleepy", "/env");
  EXPECT_EQ(r.status, 200) << r.body;
  std::string metrics = (*p)->Metrics();
  // Two processes were started: at apply and on the first request after zero.
  std::string log = LogWhen(dir.path() + "/logs/default/sleepy-00001.log",
                            [](const std::string& l) { return Count(l, "behave: starting pid") >= 2; });
  EXPECT_EQ(Count(log, "behave: starting pid"), 2u) << log;
  EXPECT_NE(metrics.find("ofn_revision_cold_start_seconds_count{namespace=\"default\",function=\"sleepy\",revision=\"sleepy-00001\"} 2"),
            std::string::npos)
      << metrics;
}

// StartAsync returns at once and answers from the instance's supervisor
// thread once the readiness probe passes: no start-pool thread waits.
TEST(ProcessDriverTest, StartAsyncAnswersWhenReadyWithoutHoldingTheCaller) {
  process::ProcessDriverOptions o;
  o.grace = seconds(2);
  process::ProcessDriver driver(o);
  backend::Workload w;
  w.ns = "default";
  w.function = "slowready";
  w.revision = "slowready-00001";
  w.kind = backend::WorkloadKind::kCommand;
  w.command = "/usr/bin/python3";
  w.args = {testing::DataPath("process/behave.py")};
  w.env = {{"READY_AFTER_MS", "400"}};
  w.readiness.type = backend::Probe::Type::kHttp;
  w.readiness.path = "/ready";
  w.readiness.period = milliseconds(20);
  w.func_context = "{}";
  auto done = std::make_shared<std::promise<Result<std::shared_ptr<backend::Instance>>>>();
  std::atomic<bool> called{false};
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> on_caller{false};
  driver.StartAsync(w, [&, done](Result<std::shared_ptr<backend::Instance>> r) {
    on_caller = std::this_thread::get_id() == caller;
    called = true;
    done->set_value(std::move(r));
  });
  EXPECT_FALSE(called.load()) << "StartAsync waited for the instance to be ready";
  auto future = done->get_future();
  ASSERT_EQ(future.wait_for(seconds(20)), std::future_status::ready);
  Result<std::shared_ptr<backend::Instance>> instance = future.get();
  ASSERT_TRUE(instance.ok()) << instance.status().ToString();
  EXPECT_FALSE(on_caller.load());
  HttpRequest req;
  req.target = "/ready";
  EXPECT_EQ((*instance)->Handle(req).status, 200);
  // A start that cannot succeed answers with the reason, also later.
  backend::Workload bad = w;
  bad.env = {{"EXIT_AT_START", "3"}};
  std::promise<Result<std::shared_ptr<backend::Instance>>> failed;
  driver.StartAsync(bad, [&](Result<std::shared_ptr<backend::Instance>> r) { failed.set_value(std::move(r)); });
  auto f = failed.get_future();
  ASSERT_EQ(f.wait_for(seconds(20)), std::future_status::ready);
  Result<std::shared_ptr<backend::Instance>> r = f.get();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exiting with 3"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace ofn
