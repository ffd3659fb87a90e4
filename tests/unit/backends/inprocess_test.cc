// InProcessDriver: function libraries found by image name in the library
// directories, each opened once.
#include "libofn/backends/inprocess/inprocess.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/test_util.h"

namespace ofn::inprocess {
namespace {

using testing::BuildRoot;

backend::Workload HelloWorkload() {
  backend::Workload w;
  w.ns = "default";
  w.function = "hello";
  w.revision = "hello-00001";
  w.image = "ofn.local/hello-world:latest";
  return w;
}

// A library already loaded from a path is used as it was loaded: a start
// neither looks at the file again nor fails once it is gone (the code stays
// in the process, as dlopen keeps it).
TEST(InProcessDriverTest, ALoadedLibraryServesNewInstancesWithoutItsFile) {
  testing::TempDir dir;
  const std::string lib = dir.path() + "/hello-world.so";
  std::filesystem::copy_file(BuildRoot() + "/examples/hello-world.so", lib);
  InProcessDriver driver(nullptr, {dir.path()}, nullptr);
  const backend::Workload w = HelloWorkload();

  // Not loaded yet: the file decides.
  auto first = driver.Start(w);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  HttpRequest req;
  EXPECT_EQ((*first)->Handle(req).status, 200);

  std::filesystem::remove(lib);
  auto second = driver.Start(w);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ((*second)->Handle(req).body, (*first)->Handle(req).body);

  // A library never loaded still needs its file.
  backend::Workload other = w;
  other.image = "ofn.local/not-there:latest";
  auto missing = driver.Start(other);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("not-there"), std::string::npos) << missing.status().message();
}

}  // namespace
}  // namespace ofn::inprocess
