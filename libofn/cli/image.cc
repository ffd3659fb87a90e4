// `ofn image`: OCI images in containerd (namespace ofn), for the containerd
// backend: build one from a directory, import an archive, list, remove.
// These talk to containerd directly, not to `ofn serve`.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "libofn/backends/containerd/options.h"
#include "libofn/cli/commands.h"
#include "libofn/version_gen.h"
#if OFN_WITH_CONTAINERD
#include "libofn/backends/containerd/containerd.h"
#endif

namespace ofn::cli {

namespace {

struct ImageFlags {
  std::string socket;
  std::string ns = "ofn";
  // build
  std::string dir, tag, from, dest = "/", workdir, user, output;
  std::string entrypoint, cmd;
  std::vector<std::string> env, ports;
  // import
  std::string file;
  // rm, pull
  std::vector<std::string> names;
  std::vector<std::string> mirrors;
  std::string registry_config;
};

#if OFN_WITH_CONTAINERD
using containerd::ContainerdDriver;

std::string Socket(const ImageFlags& f) {
  if (!f.socket.empty()) return f.socket;
  const char* env = std::getenv("OFN_CONTAINERD");
  return env && *env ? env : containerd::kDefaultSocket;
}

Result<std::shared_ptr<ContainerdDriver>> Connect(const ImageFlags& f) {
  containerd::ContainerdOptions o;
  o.socket = Socket(f);
  o.ns = f.ns;
  o.registry_config = f.registry_config;
  for (const std::string& m : f.mirrors) {
    size_t eq = m.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(StatusCode::kInvalidArgument, "--registry-mirror \"" + m + "\": expected REGISTRY=URL");
    }
    o.registry_mirrors[m.substr(0, eq)].push_back(m.substr(eq + 1));
  }
  return ContainerdDriver::Open(o);
}

// Dockerfile's two forms: a JSON array is the arguments; anything else
// runs through /bin/sh -c.
Result<std::vector<std::string>> CommandForm(const std::string& text, const char* flag) {
  if (text.empty()) return std::vector<std::string>{};
  if (text.front() != '[') return std::vector<std::string>{"/bin/sh", "-c", text};
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  std::vector<std::string> out;
  if (!ec && v.is_array()) {
    for (const auto& s : v.as_array()) {
      if (!s.is_string()) {
        ec = boost::json::make_error_code(boost::json::error::not_string);
        break;
      }
      out.emplace_back(s.as_string());
    }
  }
  if (ec || !v.is_array()) {
    return Status(StatusCode::kInvalidArgument, std::string(flag) + ": a JSON array of strings, or a shell command");
  }
  return out;
}

int Build(const ImageFlags& f) {
  auto fail = [](const std::string& m) {
    std::fprintf(stderr, "ofn image build: %s\n", m.c_str());
    return 1;
  };
  Result<containerd::ImageReference> ref = containerd::ParseImageReference(f.tag);
  if (!ref.ok()) return fail(ref.status().message());
  containerd::ImageBuild b;
  if (!f.dir.empty()) {
    auto files = containerd::DirectoryEntries(f.dir, f.dest);
    if (!files.ok()) return fail(files.status().message());
    b.files = std::move(*files);
  }
  auto ep = CommandForm(f.entrypoint, "--entrypoint");
  auto cmd = CommandForm(f.cmd, "--cmd");
  if (!ep.ok()) return fail(ep.status().message());
  if (!cmd.ok()) return fail(cmd.status().message());
  b.config.entrypoint = *ep;
  b.config.cmd = *cmd;
  b.config.env = f.env;
  b.config.working_dir = f.workdir;
  b.config.user = f.user;
  for (const std::string& p : f.ports) b.config.exposed_ports.push_back(p.find('/') == std::string::npos ? p + "/tcp" : p);
  std::shared_ptr<ContainerdDriver> driver;
  containerd::OciImage base;
  if (!f.from.empty() || f.output.empty()) {
    auto d = Connect(f);
    if (!d.ok()) return fail(d.status().message());
    driver = *d;
  }
  if (!f.from.empty()) {
    Result<containerd::ImageReference> base_ref = containerd::ParseImageReference(f.from);
    if (!base_ref.ok()) return fail("--from: " + base_ref.status().message());
    auto got = driver->GetImage(base_ref->Name());
    if (!got.ok()) return fail("--from: " + got.status().message());
    base = std::move(*got);
    b.base = &base;
  }
  auto img = containerd::BuildImage(b);
  if (!img.ok()) return fail(img.status().message());
  if (!f.output.empty()) {
    if (b.base) return fail("-o writes a whole archive and cannot hold a --from base's layers; import instead");
    std::ofstream out(f.output, std::ios::binary);
    out << containerd::WriteImageArchive(*img, ref->Name());
    if (!out) return fail("cannot write " + f.output);
    std::printf("wrote %s (%s, %s)\n", f.output.c_str(), ref->Name().c_str(), img->manifest.digest.c_str());
    return 0;
  }
  Status st = driver->ImportImage(ref->Name(), *img);
  if (!st.ok()) return fail(st.message());
  std::printf("built %s %s\n", ref->Name().c_str(), img->manifest.digest.c_str());
  return 0;
}

int Import(const ImageFlags& f) {
  std::ifstream in(f.file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "ofn image import: cannot read %s\n", f.file.c_str());
    return 1;
  }
  std::string tar((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto d = Connect(f);
  if (!d.ok()) {
    std::fprintf(stderr, "ofn image import: %s\n", d.status().message().c_str());
    return 1;
  }
  std::string fallback;
  if (!f.tag.empty()) {
    auto ref = containerd::ParseImageReference(f.tag);
    if (!ref.ok()) {
      std::fprintf(stderr, "ofn image import: %s\n", ref.status().message().c_str());
      return 1;
    }
    fallback = ref->Name();
  }
  auto names = (*d)->ImportArchive(tar, fallback);
  if (!names.ok()) {
    std::fprintf(stderr, "ofn image import: %s: %s\n", f.file.c_str(), names.status().message().c_str());
    return 1;
  }
  for (const std::string& n : *names) std::printf("imported %s\n", n.c_str());
  return 0;
}

int List(const ImageFlags& f) {
  auto d = Connect(f);
  auto images = d.ok() ? (*d)->ListImages() : Result<std::vector<ContainerdDriver::ImageInfo>>(d.status());
  if (!images.ok()) {
    std::fprintf(stderr, "ofn image ls: %s\n", images.status().message().c_str());
    return 1;
  }
  std::printf("%-60s %s\n", "NAME", "DIGEST");
  for (const auto& i : *images) std::printf("%-60s %s\n", i.name.c_str(), i.digest.c_str());
  return 0;
}

int Pull(const ImageFlags& f) {
  auto d = Connect(f);
  if (!d.ok()) {
    std::fprintf(stderr, "ofn image pull: %s\n", d.status().message().c_str());
    return 1;
  }
  int rc = 0;
  for (const std::string& n : f.names) {
    auto ref = containerd::ParseImageReference(n);
    Status st = ref.ok() ? (*d)->PullImage(ref->Name()) : ref.status();
    if (st.ok()) {
      std::printf("pulled %s\n", ref->Name().c_str());
    } else {
      std::fprintf(stderr, "ofn image pull: %s\n", st.message().c_str());
      rc = 1;
    }
  }
  return rc;
}

int Push(const ImageFlags& f) {
  auto d = Connect(f);
  if (!d.ok()) {
    std::fprintf(stderr, "ofn image push: %s\n", d.status().message().c_str());
    return 1;
  }
  auto src = containerd::ParseImageReference(f.names[0]);
  auto dst = containerd::ParseImageReference(f.names.size() > 1 ? f.names[1] : f.names[0]);
  Status st = !src.ok() ? src.status() : !dst.ok() ? dst.status() : (*d)->PushImage(src->Name(), dst->Name());
  if (!st.ok()) {
    std::fprintf(stderr, "ofn image push: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("pushed %s\n", dst->Name().c_str());
  return 0;
}

int Remove(const ImageFlags& f) {
  auto d = Connect(f);
  if (!d.ok()) {
    std::fprintf(stderr, "ofn image rm: %s\n", d.status().message().c_str());
    return 1;
  }
  int rc = 0;
  for (const std::string& n : f.names) {
    auto ref = containerd::ParseImageReference(n);
    Status st = ref.ok() ? (*d)->DeleteImage(ref->Name()) : ref.status();
    if (st.ok()) {
      std::printf("removed %s\n", ref->Name().c_str());
    } else {
      std::fprintf(stderr, "ofn image rm: %s\n", st.message().c_str());
      rc = 1;
    }
  }
  return rc;
}
#endif

}  // namespace

void AddImageCommand(CLI::App& app) {
  auto f = std::make_shared<ImageFlags>();
  auto* cmd = app.add_subcommand("image", "OCI images in containerd for the containerd backend (build, import, pull, push, ls, rm)");
  cmd->require_subcommand(1);
  cmd->add_option("--containerd", f->socket, "containerd's socket (default $OFN_CONTAINERD, else " +
                                                  std::string(containerd::kDefaultSocket) + ")");
  cmd->add_option("--namespace", f->ns, "containerd namespace")->capture_default_str();
  auto* build = cmd->add_subcommand("build", "Build an image from a directory (one layer) on a base image or an empty rootfs");
  build->add_option("dir", f->dir, "directory whose tree becomes the image's top layer")->check(CLI::ExistingDirectory);
  build->add_option("-t,--tag", f->tag, "the image's name")->required();
  build->add_option("--from", f->from, "base image (in containerd); none: an empty rootfs");
  build->add_option("--dest", f->dest, "where the directory goes in the image")->capture_default_str();
  build->add_option("--entrypoint", f->entrypoint, "JSON array, or a shell command (run with /bin/sh -c)");
  build->add_option("--cmd", f->cmd, "JSON array, or a shell command (run with /bin/sh -c)");
  build->add_option("-e,--env", f->env, "NAME=value (repeatable)");
  build->add_option("-w,--workdir", f->workdir, "working directory");
  build->add_option("-u,--user", f->user, "uid[:gid]");
  build->add_option("-p,--port", f->ports, "exposed port (repeatable)");
  build->add_option("-o,--output", f->output, "write an OCI image archive instead of importing into containerd");
  auto* import = cmd->add_subcommand("import", "Import an image archive (OCI layout tar, or docker save)");
  import->add_option("file", f->file, "the archive")->required()->check(CLI::ExistingFile);
  import->add_option("-t,--tag", f->tag, "name for images the archive leaves unnamed");
  cmd->add_option("--registry-mirror", f->mirrors, "REGISTRY=URL: pull REGISTRY's images from URL first (repeatable)");
  cmd->add_option("--registry-config", f->registry_config, "a docker config.json with registry credentials")
      ->check(CLI::ExistingFile);
  auto* pull = cmd->add_subcommand("pull", "Pull images from their registry (or its mirrors)");
  pull->add_option("names", f->names, "image names")->required();
  auto* push = cmd->add_subcommand("push", "Push an image to a registry: ofn image push NAME [DEST]");
  push->add_option("names", f->names, "the image, then where to push it (default: its own name)")
      ->required()
      ->expected(1, 2);
  auto* ls = cmd->add_subcommand("ls", "List images");
  auto* rm = cmd->add_subcommand("rm", "Remove images");
  rm->add_option("names", f->names, "image names")->required();
#if OFN_WITH_CONTAINERD
  build->callback([f] { ExitCode() = Build(*f); });
  import->callback([f] { ExitCode() = Import(*f); });
  ls->callback([f] { ExitCode() = List(*f); });
  pull->callback([f] { ExitCode() = Pull(*f); });
  push->callback([f] { ExitCode() = Push(*f); });
  rm->callback([f] { ExitCode() = Remove(*f); });
#else
  for (CLI::App* sub : {build, import, pull, push, ls, rm}) {
    sub->callback([] {
      std::fprintf(stderr, "ofn image: this build of libofn has no containerd backend (meson option containerd)\n");
      ExitCode() = 1;
    });
  }
#endif
}

}  // namespace ofn::cli
