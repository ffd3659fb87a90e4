// Which strategy builds a source, and what a strategy that cannot run says.
#include "libofn/build/strategy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/test_util.h"

namespace ofn::build {
namespace {

namespace fs = std::filesystem;
using ofn::testing::TempDir;

class StrategyTest : public ::testing::Test {
 protected:
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(dir_.path()) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  Result<std::string> Choose(const std::string& builder = "", bool image = false) {
    BuildInput in;
    in.function = "fn";
    in.source_dir = dir_.path();
    in.builder = builder;
    in.image = image;
    in.options = &options_;
    return ChooseStrategy(in);
  }
  TempDir dir_;
  BuildOptions options_;
};

TEST_F(StrategyTest, TheSourceSaysWhichStrategy) {
  Write("main.py", "def f(r):\n    return 1\n");
  EXPECT_EQ(*Choose(), "python");
  Write("Procfile", "web: ./serve\n");
  EXPECT_EQ(*Choose(), "command");
  Write("go.mod", "module example.com/fn\n");
  EXPECT_EQ(*Choose(), "go");
  Write("package.json", "{}\n");
  EXPECT_EQ(*Choose(), "node");
  Write("src/fn.cc", "#include \"libofn/serve/function.h\"\nOFN_REGISTER_FUNCTIONS(r) {}\n");
  EXPECT_EQ(*Choose(), "cxx");
  // A builder of ofn.local/ names one, whatever the source holds.
  EXPECT_EQ(*Choose("ofn.local/python:latest"), "python");
  EXPECT_EQ(*Choose("ofn.local/auto"), "cxx");
  auto unknown = Choose("ofn.local/rust");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("spec.build.builder: \"ofn.local/rust\" names no strategy"),
            std::string::npos);
}

TEST_F(StrategyTest, NothingToBuildSaysWhatWasLookedFor) {
  Write("README.md", "docs only\n");
  Write("node_modules/x/index.js", "// not the function's own\n");
  auto none = Choose("openfunction/builder-go:latest");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no C++ file with OFN_REGISTER_FUNCTIONS"), std::string::npos);
  EXPECT_NE(none.status().message().find("runs only on the Kubernetes backend with Shipwright"), std::string::npos)
      << none.status().message();
}

TEST_F(StrategyTest, ADockerfileNeedsTheContainerdBackend) {
  Write("Dockerfile", "FROM scratch\n");
  BuildInput in;
  in.source_dir = dir_.path();
  in.dockerfile = "Dockerfile";
  in.options = &options_;
  auto local = ChooseStrategy(in);
  ASSERT_FALSE(local.ok());
  EXPECT_NE(local.status().message().find("run the Function on containerd"), std::string::npos);
  in.image = true;
  EXPECT_EQ(*ChooseStrategy(in), "dockerfile");
}

TEST_F(StrategyTest, PythonNeedsFuncNameAndAKnownSignature) {
  Write("main.py", "def greet(r):\n    return 1\n");
  TempDir out;
  BuildInput in;
  in.function = "fn";
  in.source_dir = dir_.path();
  in.out_dir = out.path() + "/a";
  in.options = &options_;
  auto no_name = RunStrategy("python", in);
  ASSERT_FALSE(no_name.ok());
  EXPECT_NE(no_name.status().message().find("spec.build.env.FUNC_NAME"), std::string::npos);
  in.env["FUNC_NAME"] = "greet";
  in.env["FUNC_SIGNATURE_TYPE"] = "grpc";
  auto bad_sig = RunStrategy("python", in);
  ASSERT_FALSE(bad_sig.ok());
  EXPECT_NE(bad_sig.status().message().find("FUNC_SIGNATURE_TYPE: \"grpc\""), std::string::npos);
  in.env["FUNC_SIGNATURE_TYPE"] = "event";  // OpenFunction's older name for CloudEvents
  auto ok = RunStrategy("python", in);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->kind, "bundle");
  EXPECT_EQ(ok->command, (std::vector<std::string>{"python3", "-m", "ofn.framework", "--target", "main:greet",
                                                   "--signature", "cloudevent"}));
  EXPECT_TRUE(fs::exists(ok->working_dir + "/main.py"));
  in.env["FUNC_NAME"] = "missing";
  in.out_dir = out.path() + "/b";
  auto missing = RunStrategy("python", in);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no .py file of the source defines \"missing\""), std::string::npos);
}

}  // namespace
}  // namespace ofn::build
