// Sources of builds against real servers: repositories made here, served by
// `git daemon` and by `git http-backend` behind a web server with basic auth
// (tests/data/build/git_http.py), and plain directories.
#include "libofn/build/source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/build/git_fixtures.h"

namespace ofn::build {
namespace {

namespace fs = std::filesystem;
using ofn::testing::ReadFile;
using ofn::testing::TempDir;
using testing_git::GitDaemon;
using testing_git::GitHttp;
using testing_git::GitRepo;

TEST(MirrorTest, TheLongestPrefixWins) {
  std::vector<std::pair<std::string, std::string>> mirrors = {
      {"https://github.com/", "file:///srv/git/"},
      {"https://github.com/OpenFunction/", "git://127.0.0.1:9418/of/"},
  };
  EXPECT_EQ(ApplyMirrors("https://github.com/OpenFunction/samples.git", mirrors), "git://127.0.0.1:9418/of/samples.git");
  EXPECT_EQ(ApplyMirrors("https://github.com/other/x.git", mirrors), "file:///srv/git/other/x.git");
  EXPECT_EQ(ApplyMirrors("https://gitlab.com/a/b.git", mirrors), "https://gitlab.com/a/b.git");
}

TEST(CredentialsFileTest, MatchesSchemeHostAndPathPrefix) {
  const std::string file =
      "https://alice:s%40cret@git.example.com\n"
      "http://bob:pw@127.0.0.1:8000/team\n"
      "\n";
  std::string user, pass;
  ASSERT_TRUE(CredentialsFromFile(file, "https://git.example.com/a/b.git", &user, &pass));
  EXPECT_EQ(user, "alice");
  EXPECT_EQ(pass, "s@cret");
  ASSERT_TRUE(CredentialsFromFile(file, "http://127.0.0.1:8000/team/repo.git", &user, &pass));
  EXPECT_EQ(user, "bob");
  EXPECT_FALSE(CredentialsFromFile(file, "http://127.0.0.1:8000/other/repo.git", &user, &pass));
  EXPECT_FALSE(CredentialsFromFile(file, "http://git.example.com/a/b.git", &user, &pass));  // scheme differs
}

class GitDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing_git::HaveGit()) GTEST_SKIP() << "git is not installed";
    repo_ = std::make_unique<GitRepo>(root_.path() + "/hello.git");
    repo_->Write("README", "v1\n");
    repo_->Write("fn/main.py", "def hello(request):\n    return 'one'\n");
    first_ = repo_->Commit("first");
    repo_->Tag("v1");
    testing_git::Shell("git -C '" + repo_->dir() + "' branch other");
    repo_->Write("fn/main.py", "def hello(request):\n    return 'two'\n");
    second_ = repo_->Commit("second");
    daemon_ = std::make_unique<GitDaemon>(root_.path());
    ASSERT_TRUE(daemon_->up()) << "git daemon did not start";
  }
  std::string Url() const { return "git://127.0.0.1:" + std::to_string(daemon_->port()) + "/hello.git"; }

  TempDir root_, work_;
  std::unique_ptr<GitRepo> repo_;
  std::unique_ptr<GitDaemon> daemon_;
  std::string first_, second_;
};

TEST_F(GitDaemonTest, FetchesABranchATagACommitAndASubPath) {
  SourceSpec spec;
  spec.url = Url();
  spec.revision = "main";
  auto head = FetchSource(spec, work_.path() + "/cache", work_.path() + "/a");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->commit, second_);
  // A branch: only it is fetched (the cache has no other remote branch).
  EXPECT_NE(head->log.find("fetched only refs/heads/main"), std::string::npos) << head->log;
  const std::string cache = testing_git::Shell("ls -d '" + work_.path() + "/cache/'*.git");
  EXPECT_EQ(testing_git::Shell("git --git-dir '" + cache + "' for-each-ref --format='%(refname)'"),
            "refs/remotes/origin/main");
  EXPECT_NE(ReadFile(work_.path() + "/a/fn/main.py").find("'two'"), std::string::npos);
  EXPECT_EQ(ReadFile(work_.path() + "/a/README"), "v1\n");

  spec.revision = "v1";
  spec.sub_path = "/fn/";
  auto tagged = FetchSource(spec, work_.path() + "/cache", work_.path() + "/b");
  ASSERT_TRUE(tagged.ok()) << tagged.status().ToString();
  EXPECT_EQ(tagged->commit, first_);
  EXPECT_NE(ReadFile(work_.path() + "/b/main.py").find("'one'"), std::string::npos);
  EXPECT_FALSE(fs::exists(work_.path() + "/b/README"));  // only the sub-path

  spec.revision = first_.substr(0, 10);  // a short commit id
  spec.sub_path.clear();
  auto by_commit = FetchSource(spec, work_.path() + "/cache", work_.path() + "/c");
  ASSERT_TRUE(by_commit.ok()) << by_commit.status().ToString();
  EXPECT_EQ(by_commit->commit, first_);

  spec.revision.clear();  // the remote's HEAD
  auto default_branch = FetchSource(spec, work_.path() + "/cache", work_.path() + "/d");
  ASSERT_TRUE(default_branch.ok()) << default_branch.status().ToString();
  EXPECT_EQ(default_branch->commit, second_);
}

TEST_F(GitDaemonTest, AMissingRevisionOrSubPathIsNamed) {
  SourceSpec spec;
  spec.url = Url();
  spec.revision = "no-such-branch";
  auto missing = FetchSource(spec, work_.path() + "/cache", work_.path() + "/a");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("spec.build.srcRepo.revision: \"no-such-branch\""), std::string::npos)
      << missing.status().message();

  spec.revision = "main";
  spec.sub_path = "nope";
  auto no_dir = FetchSource(spec, work_.path() + "/cache", work_.path() + "/b");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_NE(no_dir.status().message().find("sourceSubPath: \"nope\""), std::string::npos) << no_dir.status().message();

  spec.url = "git://127.0.0.1:" + std::to_string(daemon_->port()) + "/absent.git";
  spec.sub_path.clear();
  auto no_repo = FetchSource(spec, work_.path() + "/cache", work_.path() + "/c");
  ASSERT_FALSE(no_repo.ok());
  EXPECT_NE(no_repo.status().message().find("absent.git"), std::string::npos) << no_repo.status().message();
}

TEST_F(GitDaemonTest, TheRemoteCommitFollowsPushesWithoutAFetch) {
  SourceSpec spec;
  spec.url = Url();
  spec.revision = "main";
  auto before = RemoteCommit(spec);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(*before, second_);
  repo_->Write("README", "v3\n");
  std::string third = repo_->Commit("third");
  auto after = RemoteCommit(spec);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, third);
  spec.revision = "v1";
  auto tag = RemoteCommit(spec);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(*tag, first_);
  spec.revision = "gone";
  EXPECT_EQ(RemoteCommit(spec).status().code(), StatusCode::kNotFound);
}

TEST(GitHttpTest, BasicAuthRightWrongAndMissing) {
  if (!testing_git::HaveGit()) GTEST_SKIP() << "git is not installed";
  TempDir root, work;
  GitRepo repo(root.path() + "/private.git");
  repo.Write("index.js", "exports.hi = (req, res) => res.send('hi');\n");
  std::string commit = repo.Commit("first");
  GitHttp server(root.path(), "alice", "s3cret");
  ASSERT_TRUE(server.up()) << "git_http.py did not start";
  SourceSpec spec;
  spec.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/private.git";

  auto missing = FetchSource(spec, work.path() + "/cache", work.path() + "/a");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kPermissionDenied) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("srcRepo.credentials gives none"), std::string::npos)
      << missing.status().message();

  spec.username = "alice";
  spec.password = "wrong";
  auto wrong = FetchSource(spec, work.path() + "/cache", work.path() + "/b");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("were refused"), std::string::npos) << wrong.status().message();

  spec.password = "s3cret";
  auto right = FetchSource(spec, work.path() + "/cache", work.path() + "/c");
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_EQ(right->commit, commit);
  EXPECT_NE(ReadFile(work.path() + "/c/index.js").find("exports.hi"), std::string::npos);
  auto listed = RemoteCommit(spec);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, commit);
}

TEST(GitSshTest, AnSshKeyRightWrongAndMissing) {
  if (!testing_git::HaveGit()) GTEST_SKIP() << "git is not installed";
  testing_git::SshServer server;
  if (::geteuid() != 0) GTEST_SKIP() << "sshd needs root";
  ASSERT_TRUE(server.up()) << "sshd did not start (scripts/setup.sh installs openssh-server)";
  TempDir root, work;
  GitRepo repo(root.path() + "/over-ssh.git");
  repo.Write("main.py", "def f(r):\n    return 'ssh'\n");
  std::string commit = repo.Commit("first");
  SourceSpec spec;
  spec.url = "ssh://root@127.0.0.1:" + std::to_string(server.port()) + root.path() + "/over-ssh.git";
  spec.ssh_private_key = server.ClientKey();

  // An unknown host key ends it before any key is offered.
  auto unknown = FetchSource(spec, work.path() + "/cache", work.path() + "/0");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(unknown.status().message().find("is not in any known_hosts"), std::string::npos) << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("ssh-keyscan -p " + std::to_string(server.port())), std::string::npos);

  spec.known_hosts = server.KnownHosts();
  spec.ssh_private_key.clear();
  auto missing = FetchSource(spec, work.path() + "/cache", work.path() + "/a");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kPermissionDenied) << missing.status().ToString();

  spec.ssh_private_key = server.StrangerKey();
  auto wrong = FetchSource(spec, work.path() + "/cache", work.path() + "/b");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied) << wrong.status().ToString();

  spec.ssh_private_key = server.ClientKey();
  auto right = FetchSource(spec, work.path() + "/cache", work.path() + "/c");
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_EQ(right->commit, commit);
  EXPECT_NE(ReadFile(work.path() + "/c/main.py").find("'ssh'"), std::string::npos);
  auto listed = RemoteCommit(spec);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, commit);
}

TEST(KnownHostsTest, PlainAndHashedNamesWithTheirPorts) {
  TempDir dir;
  const std::string key = "AAAAC3NzaC1lZDI1NTE5AAAAIKhvX1sHQXcIqFr2X0Cz1X8n0u2xC7n3q5p0w0m8l6tA";
  const std::string plain = "git.example.com,10.0.0.1 ssh-ed25519 " + key + "\n[127.0.0.1]:2222 ssh-ed25519 " + key + "\n";
  EXPECT_TRUE(KnownHost(plain, "git.example.com", 22, "ssh-ed25519", key));
  EXPECT_TRUE(KnownHost(plain, "10.0.0.1", 22, "ssh-ed25519", key));
  EXPECT_TRUE(KnownHost(plain, "127.0.0.1", 2222, "ssh-ed25519", key));
  EXPECT_FALSE(KnownHost(plain, "127.0.0.1", 22, "ssh-ed25519", key));  // another port
  EXPECT_FALSE(KnownHost(plain, "git.example.com", 22, "ssh-rsa", key));
  EXPECT_FALSE(KnownHost(plain, "git.example.com", 22, "ssh-ed25519", key.substr(0, key.size() - 2) + "xA"));
  // ssh-keygen -H writes names hashed (HMAC-SHA1 with a salt per line).
  if (::access("/usr/bin/ssh-keygen", X_OK) == 0) {
    std::ofstream(dir.path() + "/known_hosts") << plain;
    ASSERT_EQ(std::system(("ssh-keygen -q -H -f '" + dir.path() + "/known_hosts' >/dev/null 2>&1").c_str()), 0);
    std::string hashed = ReadFile(dir.path() + "/known_hosts");
    ASSERT_EQ(hashed.find("git.example.com"), std::string::npos) << hashed;
    EXPECT_TRUE(KnownHost(hashed, "git.example.com", 22, "ssh-ed25519", key));
    EXPECT_TRUE(KnownHost(hashed, "127.0.0.1", 2222, "ssh-ed25519", key));
    EXPECT_FALSE(KnownHost(hashed, "other.example.com", 22, "ssh-ed25519", key));
  }
}

TEST(LocalSourceTest, APlainDirectoryIsCopiedAndItsDigestFollowsItsContent) {
  TempDir src, work;
  fs::create_directories(src.path() + "/app/lib");
  std::ofstream(src.path() + "/app/main.py") << "def f(r):\n    return 1\n";
  std::ofstream(src.path() + "/app/lib/util.py") << "X = 1\n";
  SourceSpec spec;
  spec.url = src.path();
  spec.sub_path = "app";
  auto one = FetchSource(spec, work.path() + "/cache", work.path() + "/one");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->commit.rfind("dir:", 0), 0u);
  EXPECT_EQ(ReadFile(work.path() + "/one/lib/util.py"), "X = 1\n");
  auto same = FetchSource(spec, work.path() + "/cache", work.path() + "/two");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->commit, one->commit);
  std::ofstream(src.path() + "/app/lib/util.py") << "X = 2\n";
  auto changed = FetchSource(spec, work.path() + "/cache", work.path() + "/three");
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->commit, one->commit);
  auto remote = RemoteCommit(spec);
  ASSERT_TRUE(remote.ok());
  EXPECT_EQ(*remote, changed->commit);
  spec.url = src.path() + "/nothing-here";
  EXPECT_EQ(FetchSource(spec, work.path() + "/cache", work.path() + "/four").status().code(), StatusCode::kNotFound);
}

TEST(LocalSourceTest, ALocalRepositoryPathIsFetchedAsGit) {
  if (!testing_git::HaveGit()) GTEST_SKIP() << "git is not installed";
  TempDir root, work;
  GitRepo repo(root.path() + "/r");
  repo.Write("a.txt", "a\n");
  std::string commit = repo.Commit("one");
  SourceSpec spec;
  spec.url = "file://" + root.path() + "/r";
  auto fetched = FetchSource(spec, work.path() + "/cache", work.path() + "/out");
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->commit, commit);
  EXPECT_FALSE(fs::exists(work.path() + "/out/.git"));
}

}  // namespace
}  // namespace ofn::build
