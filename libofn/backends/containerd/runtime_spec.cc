#include "libofn/backends/containerd/internal/runtime_spec.h"

#include <boost/json.hpp>

#include "libofn/backends/process/config.h"

namespace ofn::containerd::internal {

namespace json = boost::json;

namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The capabilities a container gets by default (as containerd and Docker
// give them).
constexpr const char* kCapabilities[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",      "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP",     "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};

Result<uint32_t> ParseId(std::string_view s, std::string_view user) {
  if (s.empty() || s.size() > 10) return Status(StatusCode::kInvalidArgument, "");
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return Status(StatusCode::kInvalidArgument,
                    "the image's user \"" + std::string(user) +
                        "\" is a name; only numeric users (uid[:gid]) are supported, since the image's /etc/passwd is "
                        "not read: set the image's USER to a number");
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xffffffffu) return Status(StatusCode::kInvalidArgument, "user id \"" + std::string(s) + "\" is too large");
  return static_cast<uint32_t>(v);
}

json::object Mount(std::string_view destination, std::string_view type, std::string_view source,
                   std::initializer_list<const char*> options) {
  json::array opts;
  for (const char* o : options) opts.emplace_back(o);
  return json::object{{"destination", destination}, {"type", type}, {"source", source}, {"options", std::move(opts)}};
}

}  // namespace

Result<ContainerProcess> MakeProcess(const backend::Workload& w, const ImageConfig& image, int port) {
  ContainerProcess p;
  if (!w.command.empty()) {
    p.args.push_back(w.command);
    p.args.insert(p.args.end(), w.args.begin(), w.args.end());
  } else {
    p.args = image.entrypoint;
    const std::vector<std::string>& rest = w.args.empty() ? image.cmd : w.args;
    p.args.insert(p.args.end(), rest.begin(), rest.end());
  }
  if (p.args.empty()) {
    return Status(StatusCode::kInvalidArgument, "image " + w.image +
                                                    " sets no Entrypoint or Cmd and the function container no command: "
                                                    "nothing to run");
  }
  process::Config cfg;
  cfg.env = w.env;
  cfg.func_context = w.func_context;
  std::vector<std::string> base = image.env;
  bool has_path = false;
  for (const std::string& e : base) has_path = has_path || e.rfind("PATH=", 0) == 0;
  if (!has_path) base.emplace_back(kDefaultPath);
  p.env = process::InstanceEnvironment(base, cfg, port);
  p.cwd = !w.working_dir.empty() ? w.working_dir : !image.working_dir.empty() ? image.working_dir : "/";
  if (p.cwd.front() != '/') {
    return Status(StatusCode::kInvalidArgument, "workingDir \"" + p.cwd + "\" must be an absolute path in the container");
  }
  if (!image.user.empty()) {
    std::string_view user = image.user;
    size_t colon = user.find(':');
    OFN_ASSIGN_OR_RETURN(p.uid, ParseId(user.substr(0, colon), image.user));
    if (colon != std::string_view::npos) {
      OFN_ASSIGN_OR_RETURN(p.gid, ParseId(user.substr(colon + 1), image.user));
    }
  }
  return p;
}

std::string MakeRuntimeSpec(const RuntimeSpecInput& in) {
  json::array args, env, caps;
  for (const std::string& a : in.process.args) args.emplace_back(a);
  for (const std::string& e : in.process.env) env.emplace_back(e);
  for (const char* c : kCapabilities) caps.emplace_back(c);
  json::object process{
      {"terminal", false},
      {"user", json::object{{"uid", in.process.uid}, {"gid", in.process.gid}}},
      {"args", std::move(args)},
      {"env", std::move(env)},
      {"cwd", in.process.cwd},
      {"capabilities", json::object{{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array{json::object{{"type", "RLIMIT_NOFILE"}, {"hard", in.nofile}, {"soft", in.nofile}}}},
      {"noNewPrivileges", true},
  };
  json::array mounts{
      Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      Mount("/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}),
      // The host's network: its name resolution too.
      Mount("/etc/resolv.conf", "bind", "/etc/resolv.conf", {"rbind", "ro"}),
      Mount("/etc/hosts", "bind", "/etc/hosts", {"rbind", "ro"}),
  };
  json::object resources{{"devices", json::array{json::object{{"allow", false}, {"access", "rwm"}}}}};
  if (in.memory_bytes > 0) resources["memory"] = json::object{{"limit", in.memory_bytes}};
  if (in.cpu_millis > 0) {
    const int64_t period = 100000;
    resources["cpu"] = json::object{{"quota", in.cpu_millis * period / 1000}, {"period", period}};
  }
  json::array masked, readonly;
  for (const char* p : {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}) {
    masked.emplace_back(p);
  }
  for (const char* p : {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) readonly.emplace_back(p);
  json::object linux_{
      {"resources", std::move(resources)},
      {"cgroupsPath", in.cgroups_path},
      // No network namespace: the host's network, a loopback port per instance.
      {"namespaces", json::array{json::object{{"type", "pid"}}, json::object{{"type", "ipc"}},
                                 json::object{{"type", "uts"}}, json::object{{"type", "mount"}}}},
      {"maskedPaths", std::move(masked)},
      {"readonlyPaths", std::move(readonly)},
  };
  json::object spec{
      {"ociVersion", "1.0.2"},
      {"process", std::move(process)},
      {"root", json::object{{"path", "rootfs"}, {"readonly", in.readonly_rootfs}}},
      {"hostname", in.hostname},
      {"mounts", std::move(mounts)},
      {"linux", std::move(linux_)},
  };
  return json::serialize(spec);
}

}  // namespace ofn::containerd::internal
