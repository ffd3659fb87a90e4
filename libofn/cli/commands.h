// The `ofn` command's subcommands. Each registers itself on a CLI11 app.
#ifndef LIBOFN_CLI_COMMANDS_H_
#define LIBOFN_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace ofn::cli {

// Exit code of the command that ran; set by the subcommand callbacks.
int& ExitCode();

void AddValidateCommand(CLI::App& app);
void AddServeCommand(CLI::App& app);
void AddRemoteCommands(CLI::App& app);
void AddLogsCommand(CLI::App& app);
void AddImageCommand(CLI::App& app);
void AddBuildCommands(CLI::App& app);

}  // namespace ofn::cli

#endif  // LIBOFN_CLI_COMMANDS_H_
