// Builds end to end on a Platform: sources in git repositories served by
// git daemon, built by the local strategies, served by the in-process and
// process backends; failures, the cache, history limits and a restart in
// the middle of a build.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include "libofn/build/builder.h"
#include "libofn/build/strategy.h"
#include "libofn/store/store.h"
#include "libofn/platform/platform.h"
#include "tests/unit/build/git_fixtures.h"

namespace ofn {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;
using ofn::build::testing_git::GitDaemon;
using ofn::build::testing_git::GitRepo;
using ofn::testing::TempDir;

const char* kHello = R"(#include <string>
#include "libofn/serve/function.h"
namespace {
ofn::HttpResponse Hello(const ofn::HttpRequest& request) {
  return ofn::HttpResponse::Text(200, std::string(GREETING) + " " + std::string(request.path()) + "\n");
}
}  // namespace
OFN_REGISTER_FUNCTIONS(r) { r->Http("Hello", Hello); }
)";

std::string HelloSource(const std::string& greeting) {
  return "#define GREETING \"" + greeting + "\"\n" + kHello;
}

class BuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!build::testing_git::HaveGit()) GTEST_SKIP() << "git is not installed";
    repo_ = std::make_unique<GitRepo>(git_root_.path() + "/functions.git");
    repo_->Write("README.md", "functions\n");
    repo_->Write("hello/hello.cc", HelloSource("hello v1"));
    repo_->Write("py/main.py", "def greet(request):\n    return 'py says hi at ' + request.path\n");
    first_ = repo_->Commit("hello v1");
    daemon_ = std::make_unique<GitDaemon>(git_root_.path());
    ASSERT_TRUE(daemon_->up()) << "git daemon did not start";
  }

  Platform::Options Options() const {
    Platform::Options o;
    o.state_dir = state_.path();
    o.gateway_address.clear();
    o.build.include_dirs = {ofn::testing::SourceRoot()};
    o.build.python_path = ofn::testing::SourceRoot() + "/bindings/python";
    return o;
  }
  std::unique_ptr<Platform> Open(Platform::Options o) {
    auto p = Platform::Open(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }
  std::string Url() const { return "git://127.0.0.1:" + std::to_string(daemon_->port()) + "/functions.git"; }
  // A "compiler" that never ends (killed with its build).
  std::string SlowCompiler() const {
    const std::string slow = tools_.path() + "/slow-cxx";
    std::ofstream(slow) << "#!/bin/sh\nexec sleep 600\n";
    fs::permissions(slow, fs::perms::owner_all);
    return slow;
  }
  std::string Manifest(const std::string& name, const std::string& sub_path, const std::string& extra_build = "",
                       const std::string& serving = "    template:\n      containers:\n        - name: function\n") {
    return "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: " + name +
           "\nspec:\n  version: v1\n  image: registry.example.com/" + name +
           ":latest\n  build:\n    builder: ofn.local/auto\n    srcRepo:\n      url: " + Url() +
           "\n      revision: main\n      sourceSubPath: " + sub_path + "\n" + extra_build + "  serving:\n" + serving;
  }
  static std::string Body(Platform& p, const std::string& name, const std::string& path = "/x") {
    HttpRequest r;
    r.method = "GET";
    r.target = path;
    HttpResponse resp = p.Invoke(name, std::move(r));
    return std::to_string(resp.status) + " " + resp.body;
  }
  static json::object Status(Platform& p, const std::string& name) {
    auto fn = p.GetFunction(name);
    if (!fn.ok()) return {};
    json::value v = json::parse(fn->json);
    return v.as_object()["status"].as_object();
  }

  TempDir git_root_, state_, tools_;
  std::unique_ptr<GitRepo> repo_;
  std::unique_ptr<GitDaemon> daemon_;
  std::string first_;
};

TEST_F(BuildTest, ACxxFunctionIsBuiltFromGitServedInProcessAndRebuiltOnANewCommit) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("hello", "hello")).ok());
  auto ready = p->WaitReady("hello", seconds(120));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString();
  EXPECT_EQ(ready->build_state, "Succeeded");
  EXPECT_EQ(Body(*p, "hello"), "200 hello v1 /x\n");
  json::object st = Status(*p, "hello");
  EXPECT_EQ(st["build"].as_object()["resourceRef"].as_string(), "hello-build-00001");
  EXPECT_EQ(st["sources"].as_array()[0].as_object()["git"].as_object()["commitSha"].as_string(), first_);
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok());
  ASSERT_EQ(builds->size(), 1u);
  EXPECT_EQ((*builds)[0].strategy, "cxx");
  EXPECT_EQ((*builds)[0].commit, first_);
  EXPECT_TRUE(fs::is_regular_file((*builds)[0].artifact)) << (*builds)[0].artifact;
  auto log = p->BuildLog("hello");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("strategy: cxx"), std::string::npos) << *log;

  // A new commit, built on request: revision 2 takes the traffic.
  repo_->Write("hello/hello.cc", HelloSource("hello v2"));
  std::string second = repo_->Commit("hello v2");
  ASSERT_TRUE(p->Rebuild("hello").ok());
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(120)).ok());
  auto v2 = p->WaitFor("hello", [](const FunctionInfo& f) { return f.latest_ready_revision == "hello-00002"; },
                       seconds(30));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(Body(*p, "hello"), "200 hello v2 /x\n");

  // A commit that does not compile: Failed with the compiler's words;
  // revision 2 keeps serving.
  repo_->Write("hello/hello.cc", std::string("this is not C++;\n") + HelloSource("hello v3"));
  repo_->Commit("broken");
  ASSERT_TRUE(p->Rebuild("hello").ok());
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(120)).ok());
  auto failed = p->WaitFor("hello", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(30));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  st = Status(*p, "hello");
  std::string message(st["build"].as_object()["message"].as_string());
  EXPECT_NE(message.find("compiling failed"), std::string::npos) << message;
  EXPECT_NE(message.find("error:"), std::string::npos) << message;
  EXPECT_EQ(st["build"].as_object()["reason"].as_string(), "BuildFailed");
  EXPECT_EQ(st["build"].as_object()["lastSuccessfulResourceRef"].as_string(), "hello-build-00002");
  EXPECT_EQ(st["serving"].as_object()["state"].as_string(), "Running");
  EXPECT_EQ(Body(*p, "hello"), "200 hello v2 /x\n");
  auto revisions = p->Revisions("hello");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->size(), 2u);
  (void)second;
}

TEST_F(BuildTest, AnUnchangedSourceIsNotBuiltTwice) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("hello", "hello")).ok());
  ASSERT_TRUE(p->WaitReady("hello", seconds(120)).ok());
  // spec.build changes (its timeout) but not what is built: the cache answers.
  ASSERT_TRUE(p->Apply(Manifest("hello", "hello", "    timeout: 5m\n")).ok());
  ASSERT_TRUE(p->Sync().ok());
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok());
  // successfulBuildsHistoryLimit is 0: only the build that serves is kept,
  // the cached one; the artefact it reuses stays.
  ASSERT_EQ(builds->size(), 1u);
  EXPECT_EQ((*builds)[0].name, "hello-build-00002");
  EXPECT_EQ((*builds)[0].state, "Succeeded");
  EXPECT_EQ((*builds)[0].reason, "Cached");
  EXPECT_EQ((*builds)[0].cached_from, "hello-build-00001");
  EXPECT_TRUE(fs::is_regular_file((*builds)[0].artifact)) << (*builds)[0].artifact;
  EXPECT_NE((*builds)[0].artifact.find("hello-build-00001"), std::string::npos);
  ASSERT_TRUE(p->Sync().ok());
  auto revisions = p->Revisions("hello");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->size(), 1u);  // the same output: no new revision
  EXPECT_EQ(Body(*p, "hello"), "200 hello v1 /x\n");
}

TEST_F(BuildTest, APythonFunctionIsBundledAndServedAsAProcess) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("greet", "py", "    env:\n      FUNC_NAME: greet\n")).ok());
  auto ready = p->WaitReady("greet", seconds(120));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString();
  EXPECT_EQ(Body(*p, "greet", "/there"), "200 py says hi at /there");
  auto builds = p->Builds("greet");
  ASSERT_TRUE(builds.ok() && builds->size() == 1u);
  EXPECT_EQ((*builds)[0].strategy, "python");
  auto revisions = p->Revisions("greet");
  ASSERT_TRUE(revisions.ok() && !revisions->empty());
}

// npm's registry is reachable from this machine (PyPI and the Go proxy are not).
TEST_F(BuildTest, ANodeFunctionWithAnNpmDependencyIsBuiltAndServed) {
  if (::access("/usr/bin/npm", X_OK) != 0) GTEST_SKIP() << "npm is not installed (scripts/setup.sh installs it)";
  repo_->Write("node/package.json",
               "{\"name\": \"pad\", \"version\": \"1.0.0\", \"main\": \"fn.js\",\n"
               " \"dependencies\": {\"left-pad\": \"1.3.0\"}}\n");
  repo_->Write("node/fn.js",
               "const leftPad = require('left-pad');\n"
               "exports.helloWorld = (req, res) => res.send(leftPad(req.query.n || 'x', 5, '*') + ' ' + req.path);\n"
               "exports.echo = async (req, res) => { res.status(201).json({got: req.body}); };\n");
  repo_->Commit("node");
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("pad", "node", "    env:\n      FUNC_NAME: helloWorld\n")).ok());
  auto ready = p->WaitReady("pad", seconds(180));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString() << "\n" << (p->BuildLog("pad").ok() ? *p->BuildLog("pad") : "");
  EXPECT_EQ(Body(*p, "pad", "/a/b?n=ab"), "200 ***ab /a/b");
  auto builds = p->Builds("pad");
  ASSERT_TRUE(builds.ok() && builds->size() == 1u);
  EXPECT_EQ((*builds)[0].strategy, "node");
  EXPECT_TRUE(fs::exists((*builds)[0].artifact + "/src/node_modules/left-pad/package.json")) << (*builds)[0].artifact;

  // Another export of the same source, JSON in and out.
  ASSERT_TRUE(p->Apply(Manifest("echo", "node", "    env:\n      FUNC_NAME: echo\n")).ok());
  ASSERT_TRUE(p->WaitReady("echo", seconds(180)).ok());
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.headers.Set("Content-Type", "application/json");
  r.body = "{\"a\": [1, 2]}";
  HttpResponse resp = p->Invoke("echo", std::move(r));
  EXPECT_EQ(resp.status, 201);
  EXPECT_EQ(resp.body, "{\"got\":{\"a\":[1,2]}}");
}

TEST_F(BuildTest, AMissingPythonRequirementFailsTheBuildNamingIt) {
  repo_->Write("needs/main.py", "import nosuchpkg\ndef f(request):\n    return 'x'\n");
  repo_->Write("needs/requirements.txt", "# deps\nPyYAML>=5\nnosuchpkg-libofn==1.0\n");
  repo_->Commit("needs a package");
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("needs", "needs", "    env:\n      FUNC_NAME: f\n")).ok());
  auto failed = p->WaitFor("needs", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(60));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  json::object st = Status(*p, "needs");
  std::string message(st["build"].as_object()["message"].as_string());
  EXPECT_NE(message.find("nosuchpkg-libofn"), std::string::npos) << message;
  EXPECT_EQ(message.find("PyYAML"), std::string::npos) << message;  // installed from Debian
  EXPECT_EQ(st["serving"].as_object()["state"].as_string(), "Failed");
  EXPECT_EQ(st["serving"].as_object()["reason"].as_string(), "BuildFailed");
  EXPECT_EQ(failed->serving_state, "Failed");
}

TEST_F(BuildTest, HistoryLimitsPruneOldBuildRecords) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("hello", "hello",
                                "    successfulBuildsHistoryLimit: 1\n    failedBuildsHistoryLimit: 1\n"))
                  .ok());
  ASSERT_TRUE(p->WaitReady("hello", seconds(120)).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(p->Rebuild("hello").ok());
    ASSERT_TRUE(p->WaitBuildsIdle(seconds(120)).ok());
  }
  repo_->Write("hello/hello.cc", "broken\n");
  repo_->Commit("broken 1");
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(p->Rebuild("hello").ok());
    ASSERT_TRUE(p->WaitBuildsIdle(seconds(120)).ok());
  }
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok());
  std::vector<std::string> names;
  for (const BuildInfo& b : *builds) names.push_back(b.name + ":" + b.state);
  // Kept: the build that serves (00004), one more success (00003), one
  // failure (00006).
  EXPECT_EQ(names, (std::vector<std::string>{"hello-build-00003:Succeeded", "hello-build-00004:Succeeded",
                                             "hello-build-00006:Failed"}));
  // Each forced rebuild made a revision; those still exist (revision
  // history), so the artefacts they run stay though their records went.
  const std::string artifacts = state_.path() + "/builds/artifacts/default/";
  EXPECT_TRUE(fs::exists(artifacts + "hello-build-00001/hello.so"));
  EXPECT_FALSE(fs::exists(artifacts + "hello-build-00005"));  // a failure leaves nothing
  EXPECT_FALSE(fs::exists(state_.path() + "/builds/logs/default/hello-build-00002.log"));
  EXPECT_TRUE(fs::exists(state_.path() + "/builds/logs/default/hello-build-00003.log"));
}

TEST_F(BuildTest, ABuildsViewReadsItsOwnRecordOnceItExistsEvenBeforeTheBuilderLetsGoOfIt) {
  // The builder tells the reconciler of each record it writes (on the
  // build thread, before it takes the next job). A view taken then must
  // read the record: the last one says Succeeded beside the output it
  // serves, never a build still waiting while its output is served.
  auto store = store::Store::Open(":memory:");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  build::BuildOptions bo;
  bo.work_dir = state_.path() + "/builds";
  bo.python_path = ofn::testing::SourceRoot() + "/bindings/python";
  build::BuildRequest req;
  req.ns = "default";
  req.function = "py";
  req.key = "k1";
  req.builder = "ofn.local/auto";
  req.source.url = Url();
  req.source.revision = "main";
  req.source.sub_path = "py";
  req.env["FUNC_NAME"] = "greet";
  std::mutex mu;
  std::vector<build::BuildView> seen;  // what a view said at each record
  build::Builder* self = nullptr;
  build::Builder builder((*store).get(), Clock::System(), bo, [&] {
    build::BuildView v = self->Ensure(req);  // same key: asks for nothing new
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(std::move(v));
  });
  self = &builder;
  build::BuildView first = builder.Ensure(req);
  EXPECT_EQ(first.state, "Building");
  ASSERT_TRUE(builder.Idle(std::chrono::seconds(60)));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(seen.empty());
  for (const build::BuildView& v : seen) {
    if (v.serving) {
      EXPECT_EQ(v.state, "Succeeded") << v.reason << ": " << v.message;
    }
    EXPECT_NE(v.reason, "Queued") << "a view after the build's first record still took it for waiting";
  }
  EXPECT_TRUE(seen.back().serving.has_value());
  EXPECT_EQ(seen.back().state, "Succeeded") << seen.back().reason << ": " << seen.back().message;
}

TEST_F(BuildTest, ARestartInTheMiddleOfABuildStartsItAgain) {
  // The first platform's compiler never ends.
  {
    Platform::Options o = Options();
    o.build.cxx = SlowCompiler();
    auto p = Open(o);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->Apply(Manifest("hello", "hello")).ok());
    auto building = p->WaitFor(
        "hello",
        [](const FunctionInfo& f) {
          return f.build_state == "Building" && f.json.find("\"reason\":\"Building\"") != std::string::npos;
        },
        seconds(60));
    ASSERT_TRUE(building.ok()) << building.status().ToString();
    p->Close();
  }
  auto p = Open(Options());
  ASSERT_TRUE(p);
  auto ready = p->WaitReady("hello", seconds(120));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString();
  EXPECT_EQ(Body(*p, "hello"), "200 hello v1 /x\n");
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok());
  ASSERT_EQ(builds->size(), 2u);
  EXPECT_EQ((*builds)[0].state, "Failed");
  EXPECT_EQ((*builds)[0].reason, "Interrupted");
  EXPECT_EQ((*builds)[1].trigger, "restarted");
  // Nothing of the cut build is left where an artefact would be.
  EXPECT_FALSE(fs::exists(state_.path() + "/builds/artifacts/default/hello-build-00001"));
}

TEST_F(BuildTest, TheRevisionControllerBuildsANewCommitAndRollsItOutUnderLoad) {
  ManualClock clock;
  Platform::Options o = Options();
  o.clock = &clock;
  o.events_ticker = false;
  o.autoscale_ticker = false;
  auto p = Open(o);
  ASSERT_TRUE(p);
  std::string manifest = Manifest("hello", "hello");
  manifest.replace(manifest.find("  name: hello\n"), 14,
                   "  name: hello\n  annotations:\n    openfunction.io/revision-controller: enable\n"
                   "    openfunction.io/revision-controller-params: |\n      type: source\n"
                   "      polling-interval: 1m\n");
  ASSERT_TRUE(p->Apply(manifest).ok());
  ASSERT_TRUE(p->WaitReady("hello", seconds(120)).ok());
  ASSERT_EQ(Body(*p, "hello"), "200 hello v1 /x\n");

  // Clients keep calling while the new commit is built and rolled out.
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, v1{0}, v2{0};
  std::thread load([&] {
    while (!stop) {
      std::string body = Body(*p, "hello");
      if (body == "200 hello v1 /x\n") {
        ++v1;
      } else if (body == "200 hello v2 /x\n") {
        ++v2;
      } else {
        ++bad;
      }
    }
  });
  repo_->Write("hello/hello.cc", HelloSource("hello v2"));
  const std::string second = repo_->Commit("hello v2");
  p->RunEvents();  // not due yet: a minute after the first build
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  auto watch = p->RevisionController("hello");
  ASSERT_TRUE(watch.ok());
  EXPECT_TRUE(watch->enabled);
  EXPECT_EQ(watch->polls, 0u);
  clock.Advance(seconds(61));
  p->RunEvents();
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(120)).ok());
  auto v2_ready = p->WaitFor("hello", [](const FunctionInfo& f) { return f.latest_ready_revision == "hello-00002"; },
                             seconds(30));
  ASSERT_TRUE(v2_ready.ok()) << v2_ready.status().ToString();
  while (v2 < 20) std::this_thread::yield();  // clients reach revision 2
  stop = true;
  load.join();
  EXPECT_EQ(bad, 0);
  EXPECT_GT(v1, 0);
  watch = p->RevisionController("hello");
  EXPECT_EQ(watch->polls, 1u);
  EXPECT_EQ(watch->last_commit, second);
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok() && !builds->empty());
  EXPECT_EQ(builds->back().commit, second);
  EXPECT_NE(builds->back().trigger.find("revision controller"), std::string::npos) << builds->back().trigger;

  // An unchanged remote builds nothing.
  clock.Advance(seconds(61));
  p->RunEvents();
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  EXPECT_EQ(p->RevisionController("hello")->polls, 2u);
  EXPECT_EQ(p->Builds("hello")->back().name, builds->back().name);
  EXPECT_EQ(p->Revisions("hello")->size(), 2u);

  // The remote goes away: polls fail and back off (2 min, then 4 min).
  daemon_.reset();
  clock.Advance(seconds(61));
  p->RunEvents();
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  watch = p->RevisionController("hello");
  EXPECT_EQ(watch->polls, 3u);
  EXPECT_EQ(watch->failures, 1u);
  EXPECT_NE(watch->error.find("polling git://"), std::string::npos) << watch->error;
  clock.Advance(seconds(61));
  p->RunEvents();
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  EXPECT_EQ(p->RevisionController("hello")->polls, 3u);  // not due: 120 s after the failure
  clock.Advance(seconds(60));
  p->RunEvents();
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  watch = p->RevisionController("hello");
  EXPECT_EQ(watch->polls, 4u);
  EXPECT_EQ(watch->failures, 2u);
  EXPECT_EQ(Body(*p, "hello"), "200 hello v2 /x\n");  // serving goes on
}

TEST_F(BuildTest, RevisionControllerParamsThatDoNotParseAreSaid) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  std::string manifest = Manifest("hello", "hello");
  manifest.replace(manifest.find("  name: hello\n"), 14,
                   "  name: hello\n  annotations:\n    openfunction.io/revision-controller: enable\n"
                   "    openfunction.io/revision-controller-params: |\n      type: image\n");
  ASSERT_TRUE(p->Apply(manifest).ok());
  ASSERT_TRUE(p->Sync().ok());
  auto watch = p->RevisionController("hello");
  ASSERT_TRUE(watch.ok());
  EXPECT_FALSE(watch->enabled);
  EXPECT_NE(watch->error.find("type image watches spec.image of a Function without spec.build"), std::string::npos)
      << watch->error;
  manifest.replace(manifest.find("type: image"), 11, "type: nonsense\n      polling-interval: 1m");
  ASSERT_TRUE(p->Apply(manifest).ok());
  ASSERT_TRUE(p->Sync().ok());
  watch = p->RevisionController("hello");
  EXPECT_NE(watch->error.find("type \"nonsense\" is not one of source, source-image, image"), std::string::npos)
      << watch->error;
}

TEST_F(BuildTest, ABuildThatOutlivesItsTimeoutFailsWithTimeout) {
  Platform::Options o = Options();
  o.build.cxx = SlowCompiler();
  auto p = Open(o);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("hello", "hello", "    timeout: 1s\n")).ok());
  auto failed = p->WaitFor("hello", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(60));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok() && builds->size() == 1u);
  EXPECT_EQ((*builds)[0].reason, "Timeout");
  EXPECT_NE((*builds)[0].message.find("timed out"), std::string::npos) << (*builds)[0].message;
  EXPECT_LT((*builds)[0].duration_ms, 30000);
}

TEST_F(BuildTest, CredentialsComeFromTheSecretSrcRepoNamesOrTheCredentialsFile) {
  TempDir http_root;
  GitRepo priv(http_root.path() + "/private.git");
  priv.Write("hello/hello.cc", HelloSource("private hello"));
  priv.Commit("private");
  build::testing_git::GitHttp server(http_root.path(), "alice", "s3cret");
  ASSERT_TRUE(server.up()) << "git_http.py did not start";
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/private.git";
  TempDir files;
  const std::string creds = files.path() + "/git-credentials";
  std::ofstream(creds) << "http://alice:s3cret@127.0.0.1:" << server.port() << "\n";
  Platform::Options o = Options();
  o.build.git_credentials_file = creds;
  auto p = Open(o);
  ASSERT_TRUE(p);
  auto manifest = [&](const std::string& name, const std::string& secret) {
    std::string m = Manifest(name, "hello");
    m.replace(m.find("url: " + Url()), 5 + Url().size(), "url: " + url);
    if (!secret.empty()) m.replace(m.find("      revision: main"), 20, "      revision: main\n      credentials:\n        name: " + secret);
    return m;
  };
  const std::string secrets =
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: git-right\ntype: kubernetes.io/basic-auth\n"
      "stringData:\n  username: alice\n  password: s3cret\n---\n"
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: git-wrong\ntype: kubernetes.io/basic-auth\n"
      "stringData:\n  username: alice\n  password: nope\n";
  ASSERT_TRUE(p->Apply(secrets).ok());
  ASSERT_TRUE(p->Apply(manifest("by-secret", "git-right")).ok());
  ASSERT_TRUE(p->Apply(manifest("by-file", "")).ok());
  ASSERT_TRUE(p->Apply(manifest("refused", "git-wrong")).ok());
  ASSERT_TRUE(p->WaitReady("by-secret", seconds(120)).ok());
  ASSERT_TRUE(p->WaitReady("by-file", seconds(120)).ok());
  EXPECT_EQ(Body(*p, "by-secret"), "200 private hello /x\n");
  EXPECT_EQ(Body(*p, "by-file"), "200 private hello /x\n");
  auto refused = p->WaitFor("refused", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(60));
  ASSERT_TRUE(refused.ok());
  json::object st = Status(*p, "refused");
  EXPECT_EQ(st["build"].as_object()["reason"].as_string(), "AuthenticationFailed");
}

// A host program's own strategy: asked first, and named by ofn.local/<name>.
TEST_F(BuildTest, AHostStrategyBuildsWhatItDetects) {
  repo_->Write("static/greeting.txt", "static hello\n");
  repo_->Commit("static");
  auto strategy = std::make_shared<build::Strategy>();
  strategy->name = "static-site";
  std::atomic<int> runs{0};
  strategy->detects = [](const build::BuildInput& in) { return fs::exists(in.source_dir + "/greeting.txt"); };
  strategy->run = [&runs](const build::BuildInput& in) -> Result<build::Artifact> {
    ++runs;
    fs::create_directories(in.out_dir + "/www");
    fs::copy_file(in.source_dir + "/greeting.txt", in.out_dir + "/www/index.html");
    build::Artifact a;
    a.kind = "bundle";
    a.path = in.out_dir;
    a.working_dir = in.out_dir + "/www";
    a.command = {"/bin/sh", "-c", "exec python3 -m http.server \"$PORT\" --bind 127.0.0.1"};
    return a;
  };
  Platform::Options o = Options();
  o.build.strategies.push_back(strategy);
  auto p = Open(o);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("site", "static")).ok());
  auto ready = p->WaitReady("site", seconds(120));
  ASSERT_TRUE(ready.ok()) << ready.status().ToString();
  EXPECT_EQ(Body(*p, "site", "/"), "200 static hello\n");
  auto builds = p->Builds("site");
  ASSERT_TRUE(builds.ok() && builds->size() == 1u);
  EXPECT_EQ((*builds)[0].strategy, "static-site");
  EXPECT_EQ(runs, 1);
  // Named by the builder, it builds a source it would not detect.
  std::string named = Manifest("named", "hello");
  named.replace(named.find("ofn.local/auto"), 14, "ofn.local/static-site");
  ASSERT_TRUE(p->Apply(named).ok());
  auto failed = p->WaitFor("named", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(60));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(runs, 2);  // it ran, and threw (hello/ has no greeting.txt): the build fails, the platform goes on
  auto named_builds = p->Builds("named");
  ASSERT_TRUE(named_builds.ok() && named_builds->size() == 1u);
  EXPECT_NE((*named_builds)[0].message.find("strategy static-site threw: filesystem error"), std::string::npos)
      << (*named_builds)[0].message;
  EXPECT_EQ(Body(*p, "site", "/"), "200 static hello\n");
}

TEST_F(BuildTest, DeletingAFunctionRemovesItsBuilds) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("hello", "hello")).ok());
  ASSERT_TRUE(p->WaitReady("hello", seconds(120)).ok());
  auto builds = p->Builds("hello");
  ASSERT_TRUE(builds.ok() && builds->size() == 1u);
  const std::string artifact = (*builds)[0].artifact;
  ASSERT_TRUE(fs::exists(artifact));
  ASSERT_TRUE(p->Delete("Function", "default", "hello").ok());
  ASSERT_TRUE(p->Sync().ok());
  ASSERT_TRUE(p->WaitBuildsIdle(seconds(60)).ok());
  EXPECT_TRUE(p->Builds("hello")->empty());
  EXPECT_FALSE(fs::exists(artifact));
  EXPECT_FALSE(fs::exists(state_.path() + "/builds/logs/default/hello-build-00001.log"));
}

TEST_F(BuildTest, ABuildOnlyFunctionBuildsAndServesNothing) {
  auto p = Open(Options());
  ASSERT_TRUE(p);
  std::string manifest = Manifest("lib", "hello", "", "");
  manifest = manifest.substr(0, manifest.find("  serving:"));
  ASSERT_TRUE(p->Apply(manifest).ok());
  auto built = p->WaitFor("lib", [](const FunctionInfo& f) { return f.build_state == "Succeeded"; }, seconds(120));
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  json::object st = Status(*p, "lib");
  EXPECT_FALSE(st.contains("serving"));
  auto revisions = p->Revisions("lib");
  ASSERT_TRUE(revisions.ok());
  EXPECT_TRUE(revisions->empty());
}

TEST_F(BuildTest, NoStrategyAndAFetchFailureAreSaid) {
  repo_->Write("empty/notes.txt", "nothing to build\n");
  repo_->Commit("notes");
  auto p = Open(Options());
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->Apply(Manifest("nothing", "empty")).ok());
  auto failed = p->WaitFor("nothing", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(60));
  ASSERT_TRUE(failed.ok());
  json::object st = Status(*p, "nothing");
  EXPECT_EQ(st["build"].as_object()["reason"].as_string(), "NoStrategy");
  EXPECT_NE(std::string(st["build"].as_object()["message"].as_string()).find("OFN_REGISTER_FUNCTIONS"),
            std::string::npos);

  std::string bad = Manifest("gone", "hello");
  bad.replace(bad.find("revision: main"), 14, "revision: nope");
  ASSERT_TRUE(p->Apply(bad).ok());
  auto fetch = p->WaitFor("gone", [](const FunctionInfo& f) { return f.build_state == "Failed"; }, seconds(60));
  ASSERT_TRUE(fetch.ok());
  st = Status(*p, "gone");
  EXPECT_EQ(st["build"].as_object()["reason"].as_string(), "FetchFailed");
  EXPECT_NE(std::string(st["build"].as_object()["message"].as_string()).find("\"nope\""), std::string::npos);
}

}  // namespace
}  // namespace ofn
