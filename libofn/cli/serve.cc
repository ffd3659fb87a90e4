// `ofn serve`: the embedded default. This stage loads, validates and persists
// the manifests in the state directory; the gateway that serves them is the
// next stage of the platform.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "libofn/cli/commands.h"
#include "libofn/platform/apply.h"
#include "libofn/spec/object.h"
#include "libofn/store/store.h"

namespace ofn::cli {
namespace {

struct ServeFlags {
  std::vector<std::string> files;
  std::string state_dir = ".ofn";
};

int Serve(const ServeFlags& flags) {
  std::vector<spec::Object> objects;
  bool failed = false;
  for (const std::string& file : flags.files) {
    spec::ParseResult r = spec::ParseManifestFile(file);
    for (const spec::Diagnostic& d : r.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
    failed = failed || !r.ok();
    for (spec::Object& o : r.objects) objects.push_back(std::move(o));
  }
  if (failed) {
    std::fprintf(stderr, "ofn serve: invalid manifests; nothing was applied\n");
    return 1;
  }
  if (mkdir(flags.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "ofn serve: cannot create %s: %s\n", flags.state_dir.c_str(), std::strerror(errno));
    return 1;
  }
  std::string db = flags.state_dir + "/state.db";
  auto store = store::Store::Open(db);
  if (!store.ok()) {
    std::fprintf(stderr, "ofn serve: %s\n", store.status().ToString().c_str());
    return 1;
  }
  auto applied = platform::ApplyObjects(**store, objects);
  if (!applied.ok()) {
    std::fprintf(stderr, "ofn serve: %s\n", applied.status().ToString().c_str());
    return 1;
  }
  for (const store::Record& r : *applied) {
    std::printf("applied %s/%s%s%s (generation %lld)\n", r.kind.c_str(), r.ns.c_str(),
                r.ns.empty() ? "" : "/", r.name.c_str(), static_cast<long long>(r.generation));
  }
  std::printf("ofn serve: %zu object(s) validated and stored in %s; "
              "the HTTP gateway is not part of this build yet, so nothing is served\n",
              applied->size(), db.c_str());
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the platform on this machine (the embedded default)");
  cmd->add_option("-f,--filename", flags->files, "manifests to apply at start")->check(CLI::ExistingFile);
  cmd->add_option("--state-dir", flags->state_dir, "where state is kept")->capture_default_str();
  cmd->callback([flags] { ExitCode() = Serve(*flags); });
}

}  // namespace ofn::cli
