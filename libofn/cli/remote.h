// How the CLI talks to a running `ofn serve`: its admin API, over the state
// dir's unix socket or a TCP address with a bearer token.
#ifndef LIBOFN_CLI_REMOTE_H_
#define LIBOFN_CLI_REMOTE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "libofn/common/status.h"
#include "libofn/serve/http.h"

namespace ofn::cli {

struct Conn {
  std::string state_dir = ".ofn";
  std::string server;      // overrides the state dir's socket
  std::string token_file;  // for a TCP server
};

// --state-dir, --server, --token-file.
void AddConnFlags(CLI::App* cmd, Conn* c);
// A manifest text and the name it goes by in messages.
struct ManifestText {
  std::string name;  // the file, or "<stdin>"
  std::string text;
  std::string dir;   // the file's absolute directory (stdin: the working directory)
};
// Reads what -f names, kubectl's way: files, "-" (stdin), directories (their
// .yaml/.yml/.json files in name order; `recursive`: below them too).
Result<std::vector<ManifestText>> ReadManifests(const std::vector<std::string>& names, bool recursive);

// One admin API call.
Result<HttpResponse> Call(const Conn& c, HttpRequest req);
// Prints an admin error (the JSON error's message when there is one) as
// "ofn WHAT: message" and returns the exit code.
int Fail(const std::string& what, const Result<HttpResponse>& r);

// POST /v1/ACTION/NS/NAME for each name, printing `done_format` (printf,
// given the name twice) for each that worked; sets the exit code on failure.
void PostEach(const Conn& conn, const std::string& ns, const std::vector<std::string>& names,
              const std::string& action, const char* done_format);
// Columns padded to their widest cell, three spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows);
// kubectl's AGE: "45s", "3m20s", "2h", "4d" since an RFC 3339 time / epoch seconds.
std::string Age(const std::string& created);
std::string Age(int64_t epoch_seconds);

// builds.cc: `ofn get builds [FUNCTION]` (namespace "all": every one),
// `ofn describe build NAME`, and the builds part of `describe function`.
int GetBuilds(const Conn& conn, const std::string& ns, const std::string& function, const std::string& output,
              bool quiet_when_empty);
int DescribeBuild(const Conn& conn, const std::string& ns, const std::string& name);
void PrintFunctionBuilds(const Conn& conn, const std::string& ns, const std::string& function);
// One line when the Function's newest build moved to another step since
// `*last` (what the previous call printed); nothing for a Function
// without builds.
void PrintBuildProgress(const Conn& conn, const std::string& ns, const std::string& function, std::string* last);

}  // namespace ofn::cli

#endif  // LIBOFN_CLI_REMOTE_H_
