// `ofn logs NAME [--revision R] [-f] [--tail N] [--build]`: what a Function's
// instances printed, asked of the running `ofn serve` (the admin API's
// /v1/logs, answered by whichever backend ran them). Without --revision, the
// newest revision that has any output.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "libofn/cli/commands.h"
#include "libofn/cli/remote.h"

namespace ofn::cli {
namespace {

struct LogsFlags {
  std::string name;
  std::string ns = "default";
  std::string revision;
  bool follow = false;
  int tail = -1;
  bool build = false;      // --build: the log of a build, not of the instances
  std::string build_name;  // --build-name: which (default: the newest)
};

Result<HttpResponse> Fetch(const Conn& conn, const LogsFlags& f, const std::string& revision, int tail) {
  HttpRequest req;
  req.target = "/v1/logs/" + f.ns + "/" + f.name;
  std::string query;
  if (!revision.empty()) query += "revision=" + revision;
  if (tail > 0) query += (query.empty() ? "" : "&") + std::string("tail=") + std::to_string(tail);
  if (!query.empty()) req.target += "?" + query;
  return Call(conn, std::move(req));
}

void Print(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int Run(const Conn& conn, const LogsFlags& flags) {
  if (flags.build || !flags.build_name.empty()) {
    HttpRequest req;
    req.target = "/v1/buildlogs/" + flags.ns + "/" + flags.name;
    if (!flags.build_name.empty()) req.target += "?build=" + flags.build_name;
    auto r = Call(conn, std::move(req));
    if (!r.ok() || r->status != 200) return Fail("logs", r);
    Print(r->body);
    return 0;
  }
  auto r = Fetch(conn, flags, flags.revision, flags.tail);
  if (!r.ok() || r->status != 200) return Fail("logs", r);
  if (flags.tail != 0) Print(r->body);
  if (!flags.follow) return 0;
  // Follow one revision (names are DNS labels: nothing to escape): print
  // what its log gains; after a rotation, what follows the last line seen.
  const std::string revision = r->headers.GetOr("X-Ofn-Revision", flags.revision);
  std::string seen = flags.tail == 0 || flags.tail > 0 ? "" : r->body;
  if (flags.tail >= 0) {
    auto all = Fetch(conn, flags, revision, -1);
    if (all.ok() && all->status == 200) seen = all->body;
  }
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = Fetch(conn, flags, revision, -1);
    if (!now.ok() || now->status != 200) continue;
    const std::string& text = now->body;
    if (text.size() >= seen.size() && text.compare(0, seen.size(), seen) == 0) {
      Print(std::string_view(text).substr(seen.size()));
    } else {
      size_t cut = seen.rfind('\n', seen.size() >= 2 ? seen.size() - 2 : 0);
      std::string last = seen.substr(cut == std::string::npos ? 0 : cut + 1);
      size_t at = last.empty() ? std::string::npos : text.rfind(last);
      Print(at == std::string::npos ? std::string_view(text) : std::string_view(text).substr(at + last.size()));
    }
    seen = text;
  }
}

}  // namespace

void AddLogsCommand(CLI::App& app) {
  auto flags = std::make_shared<LogsFlags>();
  auto conn = std::make_shared<Conn>();
  auto* cmd = app.add_subcommand("logs", "Print what a function's instances wrote (from the running ofn serve)");
  cmd->add_option("NAME", flags->name, "function name")->required();
  cmd->add_option("-n,--namespace", flags->ns, "namespace")->capture_default_str();
  cmd->add_option("--revision", flags->revision, "revision (default: the newest with output)");
  cmd->add_flag("-f,--follow", flags->follow, "keep printing what the instances write");
  cmd->add_option("--tail", flags->tail, "only the last N lines (-1: all)")->capture_default_str();
  cmd->add_flag("--build", flags->build, "the log of the function's newest build (spec.build)");
  cmd->add_option("--build-name", flags->build_name, "the log of that build (ofn get builds lists them)");
  AddConnFlags(cmd, conn.get());
  cmd->callback([flags, conn] { ExitCode() = Run(*conn, *flags); });
}

}  // namespace ofn::cli
