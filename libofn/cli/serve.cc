// `ofn serve`: the embedded default. Opens a Platform on a state directory,
// applies the given manifests, prints each function's addresses when it is
// ready, and serves until SIGINT or SIGTERM, which drain in-flight requests
// and exit 0.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "libofn/cli/commands.h"
#include "libofn/platform/platform.h"
#include "libofn/spec/object.h"
#include "libofn/spec/scale_spec.h"

namespace ofn::cli {
namespace {

struct ServeFlags {
  std::vector<std::string> files;
  std::string state_dir = ".ofn";
  std::string listen = "127.0.0.1:8080";
  std::string https_listen;
  std::vector<std::string> tls_certs;
  bool https_redirect = false;
  std::string admin = "unix";
  std::vector<std::string> lib_dirs;
  size_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 8 * 1024 * 1024;
  int drain_seconds = 10;
  double scale_to_zero_grace = -1;
  std::vector<std::string> autoscaler;
  int ready_seconds = 30;
  size_t max_connections = 16384;
  std::vector<std::string> trusted_proxies;
  std::string containerd;
  std::vector<std::string> registry_mirrors;
  std::string registry_config;
  std::vector<std::string> git_mirrors;
  std::string git_credentials;
  std::string ssh_known_hosts;
  std::vector<std::string> build_includes;
  bool no_builds = false;
};

// Every client connection and instance costs descriptors: take the hard
// limit rather than the usual soft 1024.
void RaiseDescriptorLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) std::perror("ofn serve: raising the open-file limit");
}

// The Function's state and addresses, then a command that reaches it from
// this machine: the address's host rarely resolves here (ofn.io is the
// Gateway's domain, not a DNS entry), so the host goes in a Host header to
// the gateway's own address.
void PrintFunction(const FunctionInfo& f, const std::string& gateway) {
  std::printf("function %s/%s: %s", f.ns.c_str(), f.name.c_str(), f.serving_state.c_str());
  if (!f.serving_reason.empty()) std::printf(" (%s: %s)", f.serving_reason.c_str(), f.serving_message.c_str());
  if (f.route_status == "False") std::printf(" route not accepted (%s: %s)", f.route_reason.c_str(), f.route_message.c_str());
  std::printf("\n");
  for (const auto& [type, value] : f.addresses) std::printf("  %-8s %s\n", type.c_str(), value.c_str());
  const std::string external = f.Address("External");
  if (external.rfind("http://", 0) == 0 && !gateway.empty()) {
    std::string rest = external.substr(7);
    size_t slash = rest.find('/');
    std::string host = rest.substr(0, slash), path = slash == std::string::npos ? "/" : rest.substr(slash);
    std::printf("  try:     curl -H 'Host: %s' http://%s%s\n", host.c_str(), gateway.c_str(), path.c_str());
  }
}

int Serve(const ServeFlags& flags) {
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Every manifest is checked before anything starts: one invalid file and
  // nothing is applied.
  std::vector<spec::Object> objects;
  bool invalid = false;
  for (const std::string& file : flags.files) {
    spec::ParseOptions po;
    std::error_code ec;
    po.base_dir = std::filesystem::absolute(file, ec).parent_path().lexically_normal().string();
    spec::ParseResult r = spec::ParseManifestFile(file, po);
    for (const spec::Diagnostic& d : r.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
    invalid = invalid || !r.ok();
    for (spec::Object& o : r.objects) objects.push_back(std::move(o));
  }
  if (invalid) {
    std::fprintf(stderr, "ofn serve: invalid manifests; nothing was applied\n");
    return 1;
  }

  RaiseDescriptorLimit();
  Platform::Options options;
  options.state_dir = flags.state_dir;
  options.max_connections = flags.max_connections;
  options.trusted_proxies = flags.trusted_proxies;
  {
    std::vector<std::pair<std::string, std::string>> data;
    for (const std::string& kv : flags.autoscaler) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "ofn serve: --autoscaler \"%s\": expected KEY=VALUE\n", kv.c_str());
        return 1;
      }
      data.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    std::vector<std::string> errors;
    options.autoscaler = spec::ParseAutoscalerConfig(data, options.autoscaler, &errors);
    for (const std::string& e : errors) std::fprintf(stderr, "ofn serve: --autoscaler %s\n", e.substr(5).c_str());
    if (!errors.empty()) return 1;
  }
  if (flags.scale_to_zero_grace >= 0) {
    options.autoscaler.scale_to_zero_grace_period =
        std::chrono::milliseconds(static_cast<int64_t>(flags.scale_to_zero_grace * 1000));
  }
  options.gateway_address = flags.listen;
  options.https_address = flags.https_listen;
  options.https_redirect = flags.https_redirect;
  for (const std::string& spec : flags.tls_certs) {
    // CERT,KEY[,HOSTNAME...]
    Platform::Options::CertificateFiles f;
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t comma = spec.find(',', start);
      parts.push_back(spec.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (parts.size() < 2 || parts[0].empty() || parts[1].empty()) {
      std::fprintf(stderr, "ofn serve: --tls-cert \"%s\": expected CERT.pem,KEY.pem[,HOSTNAME...]\n", spec.c_str());
      return 1;
    }
    f.cert_file = parts[0];
    f.key_file = parts[1];
    f.hostnames.assign(parts.begin() + 2, parts.end());
    options.tls_certificates.push_back(std::move(f));
  }
  if ((!options.tls_certificates.empty() || options.https_redirect) && options.https_address.empty()) {
    std::fprintf(stderr, "ofn serve: --tls-cert and --https-redirect need --https-listen\n");
    return 1;
  }
  options.admin_address = flags.admin == "none" ? "" : flags.admin;
  options.library_dirs = flags.lib_dirs;
  options.library_dirs.push_back(flags.state_dir + "/lib");
  options.max_header_bytes = flags.max_header_bytes;
  options.max_body_bytes = flags.max_body_bytes;
  options.build.enabled = !flags.no_builds;
  options.build.git_credentials_file = flags.git_credentials;
  options.build.ssh_known_hosts = flags.ssh_known_hosts;
  options.build.include_dirs = flags.build_includes;
  for (const std::string& m : flags.git_mirrors) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
      std::fprintf(stderr, "ofn serve: --git-mirror \"%s\": expected URL=MIRROR (https://github.com/=file:///srv/git/)\n",
                   m.c_str());
      return 1;
    }
    options.build.git_mirrors.emplace_back(m.substr(0, eq), m.substr(eq + 1));
  }
  options.containerd.socket = flags.containerd;
  options.containerd.registry_config = flags.registry_config;
  for (const std::string& m : flags.registry_mirrors) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
      std::fprintf(stderr, "ofn serve: --registry-mirror \"%s\": expected REGISTRY=URL (docker.io=http://127.0.0.1:5000)\n",
                   m.c_str());
      return 1;
    }
    options.containerd.registry_mirrors[m.substr(0, eq)].push_back(m.substr(eq + 1));
  }
  auto platform = Platform::Open(options);
  if (!platform.ok()) {
    std::fprintf(stderr, "ofn serve: %s\n", platform.status().ToString().c_str());
    return 1;
  }
  Platform& p = **platform;
  if (!objects.empty()) {
    auto applied = p.Apply(objects);
    if (!applied.ok()) {
      std::fprintf(stderr, "ofn serve: %s\n", applied.status().ToString().c_str());
      return 1;
    }
    for (const ObjectInfo& o : *applied) {
      std::printf("applied %s/%s/%s (generation %lld)\n", o.kind.c_str(), o.ns.c_str(), o.name.c_str(),
                  static_cast<long long>(o.generation));
    }
  }
  if (!p.Sync(std::chrono::seconds(flags.ready_seconds)).ok()) {
    std::fprintf(stderr, "ofn serve: warning: functions are still being reconciled\n");
  }
  auto functions = p.List("Function");
  if (functions.ok()) {
    for (const ObjectInfo& o : *functions) {
      auto f = p.WaitReady(o.name, std::chrono::seconds(flags.ready_seconds), o.ns);
      auto info = p.GetFunction(o.name, o.ns);
      if (info.ok()) PrintFunction(*info, p.gateway_address());
      (void)f;
    }
  }
  std::printf("gateway listening on http://%s\n", p.gateway_address().c_str());
  if (!p.https_address().empty()) std::printf("gateway listening on https://%s\n", p.https_address().c_str());
  if (!p.admin_address().empty()) std::printf("admin API on %s\n", p.admin_address().c_str());
  std::printf("ready; press Ctrl-C to stop\n");
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::printf("ofn serve: %s received; draining in-flight requests\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  p.Close(std::chrono::seconds(flags.drain_seconds));
  std::printf("ofn serve: stopped\n");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the platform on this machine (the embedded default)");
  cmd->add_option("-f,--filename", flags->files, "manifests to apply at start")->check(CLI::ExistingFile);
  cmd->add_option("--state-dir", flags->state_dir, "where state is kept")->capture_default_str();
  cmd->add_option("--listen", flags->listen, "gateway address (host:port; port 0 picks one)")->capture_default_str();
  cmd->add_option("--https-listen", flags->https_listen,
                  "HTTPS gateway address (host:port); certificates from --tls-cert and from Gateways' HTTPS "
                  "listeners (tls.certificateRefs to kubernetes.io/tls Secrets), chosen by SNI");
  cmd->add_option("--tls-cert", flags->tls_certs,
                  "CERT.pem,KEY.pem[,HOSTNAME...]: a certificate for --https-listen (repeatable; re-read when "
                  "the files change; serves its subjectAltNames unless hostnames are given)");
  cmd->add_flag("--https-redirect", flags->https_redirect,
                "answer plain-HTTP gateway requests with a 308 to the same URL on --https-listen");
  cmd->add_option("--admin", flags->admin,
                  "admin API: unix (STATE_DIR/admin.sock, mode 0600), unix:/path, a loopback host:port "
                  "(bearer token in STATE_DIR/admin.token), or none")
      ->capture_default_str();
  cmd->add_option("--lib-dir", flags->lib_dirs, "directories holding function libraries (<image name>.so)");
  cmd->add_option("--max-header-bytes", flags->max_header_bytes, "431 above this")->capture_default_str();
  cmd->add_option("--max-body-bytes", flags->max_body_bytes, "413 above this")->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections,
                  "gateway client connections at most; more wait in the backlog")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  cmd->add_option("--trusted-proxy", flags->trusted_proxies,
                  "peer (IP or CIDR) whose X-Forwarded-For is kept; others' is replaced");
  cmd->add_option("--scale-to-zero-grace", flags->scale_to_zero_grace,
                  "seconds a revision without traffic keeps its last instance (the autoscaler's "
                  "scale-to-zero-grace-period; default 30)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--autoscaler", flags->autoscaler,
                  "KEY=VALUE: a Knative config-autoscaler setting (repeatable), e.g. enable-scale-to-zero=false, "
                  "container-concurrency-target-percentage=80, stable-window=30s; a ConfigMap "
                  "knative-serving/config-autoscaler applied later wins");
  cmd->add_flag("--containerd{" + std::string(containerd::kDefaultSocket) + "}", flags->containerd,
                "run OCI images as containers in containerd (at its usual socket, or --containerd=SOCKET)");
  cmd->add_option("--registry-mirror", flags->registry_mirrors,
                  "REGISTRY=URL: pull REGISTRY's images from URL first (repeatable), e.g. "
                  "docker.io=http://127.0.0.1:5000");
  cmd->add_option("--registry-config", flags->registry_config,
                  "a docker config.json with registry credentials (auths)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--git-mirror", flags->git_mirrors,
                  "URL=MIRROR: fetch sources under URL from MIRROR instead (repeatable; git's insteadOf), e.g. "
                  "https://github.com/=file:///srv/git/");
  cmd->add_option("--git-credentials", flags->git_credentials,
                  "a git credentials file (https://user:password@host lines) for sources whose "
                  "srcRepo.credentials names no Secret")
      ->check(CLI::ExistingFile);
  cmd->add_option("--ssh-known-hosts", flags->ssh_known_hosts,
                  "the known_hosts file ssh:// sources' host keys must be in (default ~/.ssh/known_hosts; a "
                  "credentials Secret's known_hosts counts too)");
  cmd->add_option("--build-include", flags->build_includes,
                  "where C++ function sources find libofn's headers (default: the installed ones)");
  cmd->add_flag("--no-builds", flags->no_builds, "do not build spec.build; serve spec.image as it is");
  cmd->add_option("--drain-seconds", flags->drain_seconds, "how long in-flight requests may finish on stop")
      ->capture_default_str();
  cmd->callback([flags] { ExitCode() = Serve(*flags); });
}

}  // namespace ofn::cli
