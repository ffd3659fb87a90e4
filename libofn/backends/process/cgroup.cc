#include "libofn/backends/process/cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <utility>

namespace ofn::process {
namespace {

bool WriteFile(const std::string& path, const std::string& text, std::string* error) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (!f) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

CgroupRoots FindCgroups() {
  CgroupRoots roots;
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  bool unified_only = std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers");
  while (std::getline(f, line)) {
    // "4:memory:/path" (v1) or "0::/path" (v2)
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty() && unified_only) {
      roots.v2 = true;
      roots.memory = roots.cpu = "/sys/fs/cgroup" + path;
      continue;
    }
    std::set<std::string> names;
    size_t start = 0;
    while (start <= controllers.size()) {
      size_t comma = controllers.find(',', start);
      if (comma == std::string::npos) comma = controllers.size();
      names.insert(controllers.substr(start, comma - start));
      start = comma + 1;
    }
    std::string dir = "/sys/fs/cgroup/" + controllers + path;
    if (names.count("memory")) roots.memory = dir;
    if (names.count("cpu")) roots.cpu = dir;
  }
  return roots;
}

InstanceLimits ApplyLimits(const CgroupRoots& roots, bool use_cgroups, const std::string& name, int64_t memory_bytes,
                           const std::string& memory_text, int64_t cpu_millis, const std::string& cpu_text) {
  InstanceLimits out;
  std::vector<std::string> notes;
  auto make = [&](const std::string& root, std::vector<std::pair<std::string, std::string>> files,
                  std::string* error) -> bool {
    if (!use_cgroups || root.empty()) {
      *error = "no cgroup of this process to nest in";
      return false;
    }
    std::string dir = root + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = dir + ": " + std::strerror(errno);
      return false;
    }
    for (const auto& [file, value] : files) {
      if (!WriteFile(dir + "/" + file, value, error)) {
        ::rmdir(dir.c_str());
        return false;
      }
    }
    if (std::find(out.dirs.begin(), out.dirs.end(), dir) == out.dirs.end()) {
      out.dirs.push_back(dir);
      out.procs.push_back(dir + "/cgroup.procs");
    }
    return true;
  };
  if (memory_bytes > 0) {
    std::string error;
    bool ok = roots.v2 ? make(roots.memory, {{"memory.max", std::to_string(memory_bytes)}}, &error)
                       : make(roots.memory, {{"memory.limit_in_bytes", std::to_string(memory_bytes)}}, &error);
    if (!ok) {
      out.rlimit_as = static_cast<uint64_t>(memory_bytes);
      notes.push_back("memory limit " + memory_text + " applied as RLIMIT_AS only (cgroup: " + error + ")");
    }
  }
  if (cpu_millis > 0) {
    std::string error;
    std::string quota = std::to_string(cpu_millis * 100);
    bool ok = roots.v2 ? make(roots.cpu, {{"cpu.max", quota + " 100000"}}, &error)
                       : make(roots.cpu, {{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", quota}}, &error);
    if (!ok) notes.push_back("cpu limit " + cpu_text + " not applied (cgroup: " + error + ")");
  }
  for (const std::string& n : notes) out.warning += (out.warning.empty() ? "" : "; ") + n;
  return out;
}

int64_t OomKills(const std::vector<std::string>& dirs) {
  int64_t total = 0;
  for (const std::string& dir : dirs) {
    for (const char* file : {"/memory.events", "/memory.oom_control"}) {
      std::ifstream f(dir + file);
      std::string key;
      int64_t value = 0;
      while (f >> key >> value) {
        if (key == "oom_kill") total += value;
      }
    }
  }
  return total;
}

void RemoveCgroups(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    for (int i = 0; i < 50 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace ofn::process
