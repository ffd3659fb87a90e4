// Brokers for the component tests: private servers on free loopback ports
// (redis-server, nats-server -js, mosquitto), started and stopped by the tests, and an
// inbox that records what a handler got.
#ifndef LIBOFN_TESTS_UNIT_EVENTS_BROKERS_H_
#define LIBOFN_TESTS_UNIT_EVENTS_BROKERS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libofn/events/component.h"
#include "tests/unit/test_util.h"

extern char** environ;

namespace ofn::events::testing_brokers {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool Answers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A server program on a free port in its own temp dir, killed at the end.
// `args` and `config` may use {port} and {dir}; `config`, when given, is
// written to {dir}/server.conf first.
class BrokerServer {
 public:
  BrokerServer(const std::string& exe, std::vector<std::string> args, std::string config = "", int port = 0) {
    if (::access(exe.c_str(), X_OK) != 0) return;
    port_ = port ? port : FreePort();
    if (!config.empty()) {
      for (size_t at = config.find("{port}"); at != std::string::npos; at = config.find("{port}")) {
        config.replace(at, 6, std::to_string(port_));
      }
      std::ofstream(dir_.path() + "/server.conf") << config;
    }
    std::vector<std::string> argv_s = {exe};
    for (std::string a : args) {
      for (auto [from, to] : {std::pair<std::string, std::string>{"{port}", std::to_string(port_)},
                              std::pair<std::string, std::string>{"{dir}", dir_.path()}}) {
        for (size_t at = a.find(from); at != std::string::npos; at = a.find(from)) a.replace(at, from.size(), to);
      }
      argv_s.push_back(a);
    }
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Its output goes to a file in its dir, not into the test's.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string log = dir_.path() + "/output.log";
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (::posix_spawn(&pid_, exe.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (pid_ > 0 && !Answers(port_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  ~BrokerServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool up() const { return pid_ > 0 && Answers(port_); }
  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  ofn::testing::TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// No persistence, warnings only, to a log file in its dir.
class RedisServer : public BrokerServer {
 public:
  explicit RedisServer(int port = 0)
      : BrokerServer("/usr/bin/redis-server",
                     {"--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "{dir}",
                      "--loglevel", "warning", "--logfile", "{dir}/redis.log"},
                     "", port) {}
  // Runs one redis-cli command (words without shell metacharacters) against it.
  bool Cli(const std::string& command) const {
    return std::system(("/usr/bin/redis-cli -p " + std::to_string(port()) + " " + command + " >/dev/null").c_str()) == 0;
  }
};

// JetStream on, its store in its dir; the HTTP monitoring endpoint on a
// port of its own (KEDA's nats-jetstream scaler reads it).
class NatsServer : public BrokerServer {
 public:
  NatsServer() : NatsServer(FreePort()) {}
  std::string monitoring() const { return "127.0.0.1:" + std::to_string(monitoring_port_); }

 private:
  explicit NatsServer(int monitoring_port)
      : BrokerServer("/usr/sbin/nats-server", {"-js", "-a", "127.0.0.1", "-p", "{port}", "-m",
                                               std::to_string(monitoring_port), "-sd", "{dir}", "-l", "{dir}/nats.log"}),
        monitoring_port_(monitoring_port) {}
  int monitoring_port_;
};

// On loopback, anonymous. A client's queue is not capped at mosquitto's
// default 1000 messages (over it the broker drops QoS 1 messages for a
// client that is behind, which a burst of thousands does).
class MosquittoServer : public BrokerServer {
 public:
  MosquittoServer()
      : BrokerServer("/usr/sbin/mosquitto", {"-c", "{dir}/server.conf"},
                     "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n") {}
};

class FakeEnv final : public ComponentEnv {
 public:
  Clock* clock() override { return Clock::System(); }
  Result<std::string> GetOffset(const std::string&) override { return Status(StatusCode::kNotFound, "none"); }
  Status SetOffset(const std::string&, const std::string&) override { return Status::Ok(); }
};

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Message> messages;
  std::vector<Ack> acks;
  bool auto_ack = true;
  MessageHandler Handler() {
    return [this](Message m, Ack a) {
      bool ack_now;
      {
        // Notified under the lock: a waiter that sees the message may end
        // the test (and this inbox) at once.
        std::lock_guard<std::mutex> lock(mu);
        messages.push_back(std::move(m));
        ack_now = auto_ack;
        if (!ack_now) acks.push_back(a);
        cv.notify_all();
      }
      if (ack_now) a(true);
    };
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = seconds(10)) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return messages.size() >= n; });
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return messages.size();
  }
  std::vector<Message> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return messages;
  }
  // A copy: a reader may still be delivering (and growing the vector).
  Message At(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return messages.at(i);
  }
};

}  // namespace ofn::events::testing_brokers

#endif  // LIBOFN_TESTS_UNIT_EVENTS_BROKERS_H_
