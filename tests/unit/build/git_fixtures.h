// Git repositories and servers for the build tests: a work tree made with
// the git command line, `git daemon` and `git http-backend` (behind
// tests/data/build/git_http.py, with basic auth) on free loopback ports,
// started and stopped by the tests.
#ifndef LIBOFN_TESTS_UNIT_BUILD_GIT_FIXTURES_H_
#define LIBOFN_TESTS_UNIT_BUILD_GIT_FIXTURES_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/unit/events/brokers.h"
#include "tests/unit/test_util.h"

namespace ofn::build::testing_git {

inline bool HaveGit() { return ::access("/usr/bin/git", X_OK) == 0; }

// The output of a shell command (its exit code must be 0, else "").
inline std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (::pclose(p) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A work tree on branch main whose commits the servers see at once (they
// serve the .git inside; git daemon and http-backend take a work tree's path).
class GitRepo {
 public:
  explicit GitRepo(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    Shell("git -C '" + dir_ + "' init -q -b main && git -C '" + dir_ + "' config user.email t@ofn.io && git -C '" +
          dir_ + "' config user.name tester && touch '" + dir_ + "/.git/git-daemon-export-ok'");
  }
  void Write(const std::string& rel, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(dir_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  // Commits everything; returns the commit id.
  std::string Commit(const std::string& message) const {
    Shell("git -C '" + dir_ + "' add -A && git -C '" + dir_ + "' commit -q -m '" + message + "'");
    return Shell("git -C '" + dir_ + "' rev-parse HEAD");
  }
  void Tag(const std::string& name) const { Shell("git -C '" + dir_ + "' tag -a -m " + name + " " + name); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// git daemon serving every repository under `root` (git://127.0.0.1:PORT/NAME).
class GitDaemon : public events::testing_brokers::BrokerServer {
 public:
  explicit GitDaemon(const std::string& root)
      : BrokerServer("/usr/lib/git-core/git-daemon", {"--listen=127.0.0.1", "--port={port}", "--reuseaddr",
                                                      "--export-all", "--base-path=" + root, root}) {}
};

// git http-backend behind a web server that asks for basic auth.
class GitHttp : public events::testing_brokers::BrokerServer {
 public:
  GitHttp(const std::string& root, const std::string& user, const std::string& password)
      : BrokerServer("/usr/bin/python3",
                     {ofn::testing::DataPath("build/git_http.py"), "{port}", root, user, password}) {}
};

// sshd on a loopback port (root only: sshd drops privileges), serving
// `git-upload-pack` to the key it authorizes; its host key and the client's
// key pair are made here. ssh://root@127.0.0.1:PORT/abs/path/repo.
class SshServer {
 public:
  SshServer() {
    if (::geteuid() != 0 || ::access("/usr/sbin/sshd", X_OK) != 0 || ::access("/usr/bin/ssh-keygen", X_OK) != 0) return;
    const std::string d = keys_.path();
    Shell("ssh-keygen -q -t ed25519 -N '' -f '" + d + "/host' && ssh-keygen -q -t ed25519 -N '' -f '" + d +
          "/client' && ssh-keygen -q -t ed25519 -N '' -f '" + d + "/stranger' && cp '" + d + "/client.pub' '" + d +
          "/authorized_keys' && mkdir -p /run/sshd && echo ok");
    std::string config = "Port {port}\nListenAddress 127.0.0.1\nHostKey " + d +
                         "/host\nAuthorizedKeysFile " + d +
                         "/authorized_keys\nStrictModes no\nPasswordAuthentication no\n"
                         "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
                         "PidFile none\nLogLevel ERROR\n";
    server_ = std::make_unique<events::testing_brokers::BrokerServer>(
        "/usr/sbin/sshd", std::vector<std::string>{"-D", "-e", "-f", "{dir}/server.conf"}, config);
  }
  bool up() const { return server_ && server_->up(); }
  int port() const { return server_->port(); }
  std::string ClientKey() const { return ofn::testing::ReadFile(keys_.path() + "/client"); }
  std::string StrangerKey() const { return ofn::testing::ReadFile(keys_.path() + "/stranger"); }
  // A known_hosts line for this server's host key.
  std::string KnownHosts() const {
    return "[127.0.0.1]:" + std::to_string(port()) + " " + ofn::testing::ReadFile(keys_.path() + "/host.pub");
  }

 private:
  ofn::testing::TempDir keys_;
  std::unique_ptr<events::testing_brokers::BrokerServer> server_;
};

}  // namespace ofn::build::testing_git

#endif  // LIBOFN_TESTS_UNIT_BUILD_GIT_FIXTURES_H_
