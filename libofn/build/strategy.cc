#include "libofn/build/strategy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libofn/build/internal/run.h"
#include "libofn/version_gen.h"

namespace ofn::build {

namespace fs = std::filesystem;

namespace {

void Log(int fd, const std::string& text) {
  if (fd < 0) return;
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Skipped(const fs::path& name) {
  std::string n = name.filename().string();
  return (!n.empty() && n[0] == '.') || n == "node_modules" || n == "__pycache__";
}

// Regular files under `dir` whose extension is one of `exts`, sorted.
std::vector<fs::path> FindFiles(const fs::path& dir, std::initializer_list<std::string_view> exts) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (Skipped(it->path())) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::string ext = it->path().extension().string();
    if (std::find(exts.begin(), exts.end(), ext) != exts.end()) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool HasFile(const BuildInput& in, const char* name) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(in.source_dir) / name, ec);
}

std::string EnvOr(const BuildInput& in, const std::string& key, const std::string& fallback = "") {
  auto it = in.env.find(key);
  return it == in.env.end() ? fallback : it->second;
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

Status RunLogged(const BuildInput& in, std::vector<std::string> argv, const std::string& dir,
                 std::vector<std::pair<std::string, std::string>> env, const std::string& what) {
  Log(in.log_fd, "$ " + internal::CommandLine(argv) + "\n");
  internal::Step step;
  step.argv = std::move(argv);
  step.dir = dir;
  step.env = std::move(env);
  step.log_fd = in.log_fd;
  step.deadline = in.deadline;
  step.cancel = in.cancel;
  Result<int> rc = internal::RunStep(step);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) return Status(StatusCode::kFailedPrecondition, what + " failed (exit code " + std::to_string(*rc) + ")");
  return Status::Ok();
}

Status CopySource(const BuildInput& in, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::copy(in.source_dir, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec) return Status(StatusCode::kInternal, "copying the source to " + to.string() + ": " + ec.message());
  return Status::Ok();
}

std::vector<std::string> IncludeDirs(const BuildOptions& o) {
  if (!o.include_dirs.empty()) return o.include_dirs;
  std::vector<std::string> out;
  std::error_code ec;
  for (const char* dir : {OFN_INCLUDEDIR, OFN_SOURCE_DIR}) {
    if (fs::is_regular_file(fs::path(dir) / "libofn/serve/function.h", ec)) {
      out.push_back(dir);
      break;
    }
  }
  return out;
}

std::string PythonPath(const BuildOptions& o) {
  if (!o.python_path.empty()) return o.python_path;
  std::error_code ec;
  fs::path tree = fs::path(OFN_SOURCE_DIR) / "bindings/python";
  return fs::is_regular_file(tree / "ofn/framework.py", ec) ? tree.string() : "";
}

std::string NodeFramework(const BuildOptions& o) {
  if (!o.node_framework_dir.empty()) return o.node_framework_dir;
  return (fs::path(OFN_SOURCE_DIR) / "bindings/node").string();
}

// OpenFunction's FUNC_SIGNATURE_TYPE, as the frameworks here name it.
Result<std::string> Signature(const BuildInput& in) {
  std::string sig = EnvOr(in, "FUNC_SIGNATURE_TYPE", "http");
  std::transform(sig.begin(), sig.end(), sig.begin(), [](unsigned char c) { return std::tolower(c); });
  if (sig == "event") sig = "cloudevent";
  if (sig != "http" && sig != "cloudevent" && sig != "openfunction") {
    return Status(StatusCode::kInvalidArgument, "spec.build.env.FUNC_SIGNATURE_TYPE: \"" + sig +
                                                    "\" is not one of http, cloudevent, openfunction");
  }
  return sig;
}

// --- cxx ---------------------------------------------------------------------

Result<Artifact> BuildCxx(const BuildInput& in) {
  std::vector<fs::path> sources = FindFiles(in.source_dir, {".cc", ".cpp", ".cxx"});
  std::vector<std::string> incs = IncludeDirs(*in.options);
  if (incs.empty()) {
    return Status(StatusCode::kFailedPrecondition,
                  "libofn's headers (libofn/serve/function.h) are not installed here; install libofn or give the "
                  "builder their directory (BuildOptions::include_dirs, ofn serve --build-include)");
  }
  std::error_code ec;
  fs::create_directories(in.out_dir, ec);
  std::string out = (fs::path(in.out_dir) / (in.function + ".so")).string();
  std::vector<std::string> argv = {in.options->cxx, "-std=c++20", "-O2", "-fPIC", "-shared", "-fvisibility=hidden"};
  for (const std::string& inc : incs) argv.push_back("-I" + inc);
  argv.push_back("-I" + in.source_dir);
  for (const std::string& f : SplitWords(EnvOr(in, "CXXFLAGS"))) argv.push_back(f);
  for (const fs::path& s : sources) argv.push_back(fs::relative(s, in.source_dir).string());
  argv.push_back("-o");
  argv.push_back(out);
  for (const std::string& f : SplitWords(EnvOr(in, "LDFLAGS"))) argv.push_back(f);
  OFN_RETURN_IF_ERROR(RunLogged(in, std::move(argv), in.source_dir, {}, "compiling"));
  Artifact a;
  a.kind = "library";
  a.path = out;
  return a;
}

// --- python ------------------------------------------------------------------

// Distribution names a requirements.txt asks for.
std::vector<std::string> Requirements(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '-') continue;
    size_t e = b;
    while (e < line.size() && (std::isalnum(static_cast<unsigned char>(line[e])) || line[e] == '-' ||
                               line[e] == '_' || line[e] == '.')) {
      ++e;
    }
    if (e > b) out.push_back(line.substr(b, e - b));
  }
  return out;
}

Result<Artifact> BuildPython(const BuildInput& in) {
  std::string target = EnvOr(in, "FUNC_NAME");
  if (target.empty()) {
    return Status(StatusCode::kInvalidArgument, "spec.build.env.FUNC_NAME: required by the python strategy (the "
                                                "function to serve)");
  }
  OFN_ASSIGN_OR_RETURN(std::string sig, Signature(in));
  // The module defining it: main.py first (as OpenFunction's Python builder), else the first that does.
  std::vector<fs::path> files = FindFiles(in.source_dir, {".py"});
  std::stable_partition(files.begin(), files.end(),
                        [&](const fs::path& p) { return p == fs::path(in.source_dir) / "main.py"; });
  std::string module;
  for (const fs::path& f : files) {
    std::string text = ReadFile(f);
    if (text.find("def " + target + "(") == std::string::npos) continue;
    std::string rel = fs::relative(f, in.source_dir).replace_extension().string();
    std::replace(rel.begin(), rel.end(), '/', '.');
    module = rel;
    break;
  }
  if (module.empty()) {
    return Status(StatusCode::kNotFound, "spec.build.env.FUNC_NAME: no .py file of the source defines \"" + target +
                                             "\" (def " + target + "(...))");
  }
  fs::path src = fs::path(in.out_dir) / "src";
  OFN_RETURN_IF_ERROR(CopySource(in, src));
  if (HasFile(in, "requirements.txt")) {
    std::vector<std::string> wanted = Requirements(ReadFile(fs::path(in.source_dir) / "requirements.txt"));
    if (!wanted.empty()) {
      // PyPI is out of reach here: every requirement must be installed already.
      std::string check_out = (fs::path(in.out_dir) / ".requirements").string();
      std::vector<std::string> argv = {
          "python3", "-c",
          "import importlib.metadata as m, sys\n"
          "missing = []\n"
          "for n in sys.argv[2:]:\n"
          "    try: m.distribution(n)\n"
          "    except m.PackageNotFoundError: missing.append(n)\n"
          "open(sys.argv[1], 'w').write(' '.join(missing))\n",
          check_out};
      argv.insert(argv.end(), wanted.begin(), wanted.end());
      OFN_RETURN_IF_ERROR(RunLogged(in, argv, src.string(), {}, "checking requirements.txt"));
      std::string missing = ReadFile(check_out);
      fs::remove(check_out);
      if (!missing.empty()) {
        return Status(StatusCode::kFailedPrecondition,
                      "requirements.txt: not installed for python3 and PyPI is not reachable from here: " + missing +
                          " (install them from Debian's python3-* packages)");
      }
      Log(in.log_fd, "requirements.txt: all installed (" + std::to_string(wanted.size()) + ")\n");
    }
  }
  Artifact a;
  a.kind = "bundle";
  a.path = in.out_dir;
  a.working_dir = src.string();
  a.command = {"python3", "-m", "ofn.framework", "--target", module + ":" + target, "--signature", sig};
  std::string pythonpath = src.string();
  if (std::string fw = PythonPath(*in.options); !fw.empty()) pythonpath += ":" + fw;
  a.env = {{"PYTHONPATH", pythonpath}, {"FUNC_NAME", target}, {"FUNC_SIGNATURE_TYPE", sig}};
  return a;
}

// --- node --------------------------------------------------------------------

Result<Artifact> BuildNode(const BuildInput& in) {
  std::string target = EnvOr(in, "FUNC_NAME");
  if (target.empty()) {
    return Status(StatusCode::kInvalidArgument, "spec.build.env.FUNC_NAME: required by the node strategy (the "
                                                "export to serve)");
  }
  OFN_ASSIGN_OR_RETURN(std::string sig, Signature(in));
  std::error_code ec;
  std::string framework = NodeFramework(*in.options);
  if (!fs::is_regular_file(fs::path(framework) / "index.js", ec)) {
    return Status(StatusCode::kFailedPrecondition, "libofn's Node.js functions framework is not at " + framework +
                                                       " (BuildOptions::node_framework_dir)");
  }
  fs::path src = fs::path(in.out_dir) / "src";
  OFN_RETURN_IF_ERROR(CopySource(in, src));
  std::string pkg = ReadFile(src / "package.json");
  if (pkg.find("\"dependencies\"") != std::string::npos) {
    std::vector<std::string> argv = {"npm", fs::exists(src / "package-lock.json", ec) ? "ci" : "install",
                                     "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"};
    OFN_RETURN_IF_ERROR(RunLogged(in, argv, src.string(), {{"NODE_ENV", "production"}}, "npm install"));
  }
  Artifact a;
  a.kind = "bundle";
  a.path = in.out_dir;
  a.working_dir = src.string();
  a.command = {"node", (fs::path(framework) / "index.js").string()};
  a.env = {{"FUNC_NAME", target}, {"FUNC_SIGNATURE_TYPE", sig}, {"FUNC_SOURCE", src.string()}};
  return a;
}

// --- go ----------------------------------------------------------------------

Result<Artifact> BuildGo(const BuildInput& in) {
  std::error_code ec;
  fs::create_directories(in.out_dir, ec);
  std::string out = (fs::path(in.out_dir) / in.function).string();
  std::vector<std::pair<std::string, std::string>> env;
  if (std::string proxy = EnvOr(in, "FUNC_GOPROXY"); !proxy.empty()) env.emplace_back("GOPROXY", proxy);
  Status built = RunLogged(in, {"go", "build", "-o", out, "."}, in.source_dir, env, "go build");
  if (built.code() == StatusCode::kNotFound) {
    return Status(StatusCode::kFailedPrecondition,
                  "the go strategy needs the Go toolchain (apt-get install golang-go); modules beyond the standard "
                  "library also need the Go module proxy (spec.build.env.FUNC_GOPROXY)");
  }
  OFN_RETURN_IF_ERROR(built);
  Artifact a;
  a.kind = "bundle";
  a.path = in.out_dir;
  a.working_dir = in.out_dir;
  a.command = {out};
  return a;
}

// --- command -----------------------------------------------------------------

Result<Artifact> BuildCommand(const BuildInput& in) {
  fs::path src = fs::path(in.out_dir) / "src";
  OFN_RETURN_IF_ERROR(CopySource(in, src));
  Artifact a;
  a.kind = "bundle";
  a.path = in.out_dir;
  a.working_dir = src.string();
  if (HasFile(in, "Procfile")) {
    std::istringstream procfile(ReadFile(fs::path(in.source_dir) / "Procfile"));
    std::string line;
    while (std::getline(procfile, line)) {
      if (line.rfind("web:", 0) != 0) continue;
      std::string cmd = line.substr(4);
      cmd.erase(0, cmd.find_first_not_of(" \t"));
      if (!cmd.empty()) a.command = {"/bin/sh", "-c", "exec " + cmd};
    }
    if (a.command.empty() && in.serving_command.empty()) {
      return Status(StatusCode::kInvalidArgument, "Procfile: no \"web:\" line says how the function starts");
    }
  }
  return a;
}

bool IsBuildpacksBuilder(const std::string& builder) {
  return builder.find("builder-") != std::string::npos || builder.find("gcp-builder") != std::string::npos ||
         builder.find("buildpacks") != std::string::npos || builder.rfind("cnbs/", 0) == 0 ||
         builder.find("/cnbs/") != std::string::npos;
}

// --- dockerfile --------------------------------------------------------------

// registries.conf for buildah: short names from docker.io, and each
// registry's mirrors tried first (http endpoints as insecure).
std::string RegistriesConf(const BuildOptions& o) {
  std::string text = "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"permissive\"\n";
  for (const auto& [registry, endpoints] : o.registry_mirrors) {
    text += "\n[[registry]]\nlocation = \"" + registry + "\"\n";
    for (const std::string& e : endpoints) {
      std::string location = e;
      bool insecure = false;
      if (location.rfind("http://", 0) == 0) {
        location = location.substr(7);
        insecure = true;
      } else if (location.rfind("https://", 0) == 0) {
        location = location.substr(8);
      }
      while (!location.empty() && location.back() == '/') location.pop_back();
      text += "[[registry.mirror]]\nlocation = \"" + location + "\"\n";
      if (insecure) text += "insecure = true\n";
    }
  }
  return text;
}

Result<Artifact> BuildDockerfile(const BuildInput& in) {
  std::string dockerfile = in.dockerfile.empty() ? "Dockerfile" : in.dockerfile;
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(in.source_dir) / dockerfile, ec)) {
    return Status(StatusCode::kNotFound, "spec.build.dockerfile: \"" + dockerfile + "\" is not in the source");
  }
  fs::create_directories(in.out_dir, ec);
  // buildah's storage (vfs: works everywhere) and configuration under the work dir.
  const fs::path store = fs::path(in.options->work_dir) / "buildah";
  fs::create_directories(store, ec);
  const std::string conf = (store / "registries.conf").string();
  {
    std::ofstream out(conf);
    out << RegistriesConf(*in.options);
  }
  // The name the image stage stores it under in containerd.
  const std::string tag = "ofn.build/" + in.ns + "/" + in.function + ":" + fs::path(in.out_dir).filename().string();
  std::vector<std::string> base = {"buildah", "--root", (store / "root").string(), "--runroot",
                                   (store / "run").string(), "--storage-driver", "vfs"};
  std::vector<std::pair<std::string, std::string>> env = {{"CONTAINERS_REGISTRIES_CONF", conf},
                                                          {"BUILDAH_ISOLATION", "chroot"}};
  std::vector<std::string> bud = base;
  bud.insert(bud.end(), {"bud", "--isolation", "chroot", "--layers=false", "-f", dockerfile, "-t", tag});
  for (const auto& [k, v] : in.env) {
    bud.push_back("--build-arg");
    bud.push_back(k + "=" + v);
  }
  bud.push_back(".");
  Status built = RunLogged(in, bud, in.source_dir, env, "buildah bud");
  if (built.code() == StatusCode::kNotFound) {
    return Status(StatusCode::kFailedPrecondition, "the Dockerfile strategy needs buildah (apt-get install buildah)");
  }
  OFN_RETURN_IF_ERROR(built);
  const std::string archive = (fs::path(in.out_dir) / "image.tar").string();
  std::vector<std::string> push = base;
  push.insert(push.end(), {"push", tag, "oci-archive:" + archive + ":" + tag});
  Status pushed = RunLogged(in, push, in.source_dir, env, "buildah push");
  std::vector<std::string> rmi = base;
  rmi.insert(rmi.end(), {"rmi", "-f", tag});
  (void)RunLogged(in, rmi, in.source_dir, env, "buildah rmi");  // its storage is only a step
  OFN_RETURN_IF_ERROR(pushed);
  Artifact a;
  a.kind = "image";
  a.path = archive;
  return a;
}

}  // namespace

Result<std::string> ChooseStrategy(const BuildInput& in) {
  // builder: ofn.local/<strategy> picks one (ofn.local/auto: from the source).
  if (in.builder.rfind("ofn.local/", 0) == 0) {
    std::string name = in.builder.substr(10);
    name = name.substr(0, name.find(':'));
    for (const auto& s : in.options->strategies) {
      if (s && s->name == name) return name;
    }
    if (name != "auto") {
      for (const char* known : {"cxx", "python", "node", "go", "command", "dockerfile"}) {
        if (name == known) return name;
      }
      return Status(StatusCode::kInvalidArgument, "spec.build.builder: \"" + in.builder +
                                                      "\" names no strategy (ofn.local/ takes auto, cxx, python, "
                                                      "node, go, command or dockerfile)");
    }
  }
  if (!in.dockerfile.empty() || in.shipwright_strategy == "buildah" || in.shipwright_strategy == "kaniko" ||
      in.shipwright_strategy == "ko") {
    const std::string what = in.shipwright_strategy.empty() ? std::string("spec.build.dockerfile")
                                                            : "the " + in.shipwright_strategy + " strategy";
    if (!in.image) {
      return Status(StatusCode::kFailedPrecondition,
                    "a Dockerfile build (" + what +
                        ") makes an OCI image: run the Function on containerd (annotation ofn.io/backend: containerd, "
                        "ofn serve --containerd)");
    }
    return std::string("dockerfile");
  }
  for (const auto& s : in.options->strategies) {
    if (!s || !s->detects) continue;
    try {
      if (s->detects(in)) return s->name;
    } catch (const std::exception& e) {
      return Status(StatusCode::kInternal, "strategy " + s->name + " threw while looking at the source: " + e.what());
    }
  }
  for (const fs::path& f : FindFiles(in.source_dir, {".cc", ".cpp", ".cxx"})) {
    if (ReadFile(f).find("OFN_REGISTER_FUNCTIONS") != std::string::npos) return std::string("cxx");
  }
  if (HasFile(in, "package.json")) return std::string("node");
  if (HasFile(in, "go.mod")) return std::string("go");
  if (HasFile(in, "Procfile") || !in.serving_command.empty()) return std::string("command");
  if (!FindFiles(in.source_dir, {".py"}).empty()) return std::string("python");
  std::string why = "nothing in the source says how to build it: no C++ file with OFN_REGISTER_FUNCTIONS, "
                    "package.json, go.mod, Procfile or .py file";
  if (IsBuildpacksBuilder(in.builder)) {
    why += "; the buildpacks builder " + in.builder + " runs only on the Kubernetes backend with Shipwright";
  }
  return Status(StatusCode::kFailedPrecondition, why);
}

Result<Artifact> RunStrategy(const std::string& name, const BuildInput& in) {
  for (const auto& s : in.options->strategies) {
    if (!s || s->name != name || !s->run) continue;
    // A host strategy that throws fails its build, not the platform.
    Result<Artifact> made = Status(StatusCode::kInternal, "");
    try {
      made = s->run(in);
    } catch (const std::exception& e) {
      return Status(StatusCode::kInternal, "strategy " + name + " threw: " + e.what());
    } catch (...) {
      return Status(StatusCode::kInternal, "strategy " + name + " threw");
    }
    if (made.ok() && made->kind != "library" && made->kind != "bundle") {
      return Status(StatusCode::kInvalidArgument,
                    "strategy " + name + " made a \"" + made->kind + "\": a strategy makes a library or a bundle");
    }
    return made;
  }
  if (name == "cxx") return BuildCxx(in);
  if (name == "python") return BuildPython(in);
  if (name == "node") return BuildNode(in);
  if (name == "go") return BuildGo(in);
  if (name == "command") return BuildCommand(in);
  if (name == "dockerfile") {
    if (!in.image) {
      return Status(StatusCode::kFailedPrecondition,
                    "a Dockerfile build makes an OCI image: run the Function on containerd (annotation ofn.io/backend: "
                    "containerd, ofn serve --containerd)");
    }
    return BuildDockerfile(in);
  }
  return Status(StatusCode::kInvalidArgument, "no build strategy \"" + name + "\"");
}

}  // namespace ofn::build
