// ofn: the command-line front end of libofn.
#include <cstdio>
#include <string>
#include <vector>

#include "libofn/cli/commands.h"
#include "libofn/spec/object.h"
#include "libofn/version.h"

namespace ofn::cli {

int& ExitCode() {
  static int code = 0;
  return code;
}

namespace {

int ValidateFiles(const std::vector<std::string>& files, bool quiet, const std::string& output) {
  int errors = 0;
  for (const std::string& file : files) {
    spec::ParseResult r = spec::ParseManifestFile(file);
    for (const spec::Diagnostic& d : r.diagnostics) {
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
      if (d.severity == spec::Severity::kError) ++errors;
    }
    for (const spec::Object& o : r.objects) {
      if (output == "yaml") {
        std::printf("---\n%s", o.ToYaml().c_str());
      } else if (output == "json") {
        std::printf("%s\n", o.ToJson(true).c_str());
      } else if (!quiet) {
        std::printf("OK %s\n", o.Ref().c_str());
      }
    }
  }
  return errors == 0 ? 0 : 1;
}

// Shell completion: commands, resource names for get/describe/delete, and
// the names of the objects a running `ofn serve` has (through `ofn get -o name`).
constexpr char kBashCompletion[] = R"(# ofn completion for bash: source <(ofn completion bash)
_ofn() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"; cword=$COMP_CWORD; words=("${COMP_WORDS[@]}"); }
  local commands="apply completion delete describe get invoke logs rebuild restart serve validate version"
  local resources="functions revisions builds httproutes gateways secrets configmaps wasmplugins eventsources eventbuses clustereventbuses triggers all"
  case "$prev" in
    -f|--filename|--state-dir|--token-file|--lib-dir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -o|--output) COMPREPLY=($(compgen -W "yaml json name wide jsonpath=" -- "$cur")); return ;;
  esac
  if [ "$cword" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur")); return
  fi
  case "${words[1]}" in
    get|describe|delete)
      if [ "$cword" -eq 2 ]; then COMPREPLY=($(compgen -W "$resources" -- "$cur")); return; fi
      local names=$(ofn get "${words[2]}" -o name 2>/dev/null | sed 's|.*/||')
      COMPREPLY=($(compgen -W "$names" -- "$cur")) ;;
    invoke|logs|restart|rebuild)
      local names=$(ofn get functions -o name 2>/dev/null | sed 's|.*/||')
      COMPREPLY=($(compgen -W "$names" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
  esac
}
complete -F _ofn ofn
)";

void AddCompletionCommand(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("completion", "Print a shell completion script: source <(ofn completion bash)");
  cmd->add_option("shell", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  cmd->callback([shell] {
    if (*shell == "zsh") {
      // zsh runs the bash script through its bash completion layer.
      std::printf("autoload -U +X bashcompinit && bashcompinit\n");
    }
    std::printf("%s", kBashCompletion);
  });
}

}  // namespace

void AddValidateCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "validate", "Check manifests as the platform would: schema, defaults, webhook rules");
  auto files = std::make_shared<std::vector<std::string>>();
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("-f,--filename", *files, "manifest files (YAML or JSON, multi-document)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("-q,--quiet", *quiet, "print only errors and warnings");
  auto output = std::make_shared<std::string>();
  cmd->add_option("-o,--output", *output,
                  "print each valid object as the platform stores it: defaulted, converted to "
                  "its storage version")
      ->check(CLI::IsMember({"yaml", "json"}));
  cmd->footer(
      "Prints 'OK Kind/name' for each valid object and every error as\n"
      "FILE:LINE:COLUMN: FIELD.PATH: message. Exits 1 when any error was found.");
  cmd->callback([files, quiet, output] { ExitCode() = ValidateFiles(*files, *quiet, *output); });
}

}  // namespace ofn::cli

#ifdef OFN_JEMALLOC
// jemalloc's settings for this program (MALLOC_CONF still overrides them).
// One arena: by default jemalloc gives threads four arenas per core, each
// with its own partly used slabs and freed pages; `ofn serve` allocates a
// Function's lasting state on the reconcile thread and passing state on
// the I/O and function threads, and with 10,000 Functions its resident set
// was 1.6x as large (benches/control_plane.py). The thread caches still
// serve the request path without the arena's lock. A background thread
// gives freed pages back after the decay time even when nothing allocates
// (otherwise a platform gone quiet after a burst keeps them: 43 MB after
// 10,000 Functions came up).
extern "C" {
const char* malloc_conf = "narenas:1,background_thread:true";
}
#endif

int main(int argc, char** argv) {
  CLI::App app{"ofn: run OpenFunction functions on one machine, embedded"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ofn ") + ofn::Version());
  auto* version = app.add_subcommand("version", "Print the libofn version");
  version->callback([] { std::printf("ofn %s\n", ofn::Version()); });
  ofn::cli::AddValidateCommand(app);
  ofn::cli::AddServeCommand(app);
  ofn::cli::AddRemoteCommands(app);
  ofn::cli::AddLogsCommand(app);
  ofn::cli::AddBuildCommands(app);
  ofn::cli::AddImageCommand(app);
  ofn::cli::AddCompletionCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // kubectl's habit: "error: ...", a pointer to the help, exit code 1.
    std::fprintf(stderr, "error: %s\nRun 'ofn --help' (or 'ofn COMMAND --help') for usage.\n", e.what());
    return 1;
  }
  return ofn::cli::ExitCode();
}
