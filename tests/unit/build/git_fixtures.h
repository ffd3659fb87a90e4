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

}  // namespace ofn::build::testing_git

#endif  // LIBOFN_TESTS_UNIT_BUILD_GIT_FIXTURES_H_
