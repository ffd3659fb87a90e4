// Helpers shared by the unit tests.
#ifndef LIBOFN_TESTS_UNIT_TEST_UTIL_H_
#define LIBOFN_TESTS_UNIT_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ofn::testing {

inline std::string SourceRoot() {
  const char* root = std::getenv("OFN_SOURCE_ROOT");
  return root ? root : ".";
}

// The build tree (OFN_BUILD_ROOT; "build" when unset).
inline std::string BuildRoot() {
  const char* root = std::getenv("OFN_BUILD_ROOT");
  return root ? root : "build";
}

inline std::string DataPath(const std::string& rel) { return SourceRoot() + "/tests/data/" + rel; }

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Sorted paths of the *.yaml files under tests/data/<dir>.
inline std::vector<std::string> YamlFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(DataPath(dir))) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ofn-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ofn::testing

#endif  // LIBOFN_TESTS_UNIT_TEST_UTIL_H_
