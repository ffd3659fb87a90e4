// The CLI's side of builds: `ofn get builds [FUNCTION]`, `ofn describe
// build NAME`, the Builds part of `ofn describe function`, and `ofn rebuild
// FUNCTION`, over the admin API's /v1/builds, /v1/buildlogs and /v1/rebuild.
#include <boost/json.hpp>
#include <cstdio>
#include <string>

#include "libofn/cli/commands.h"
#include "libofn/cli/remote.h"
#include "libofn/common/internal/json_access.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::cli {

namespace json = boost::json;
using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

namespace {

int64_t Int(const json::object* o, std::string_view key) {
  const json::value* v = At(o, key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

std::string Duration(const json::object* b) {
  if (Int(b, "finished") == 0) return "-";
  char buf[32];
  double secs = static_cast<double>(Int(b, "durationMs")) / 1000.0;
  if (secs < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", secs);
  } else {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(secs) / 60,
                  static_cast<long long>(secs) % 60);
  }
  return buf;
}

std::string Short(const std::string& commit) {
  return commit.rfind("dir:", 0) == 0 ? commit : commit.substr(0, 12);
}

// Builds as listed by the admin API (NotFound and friends already printed).
Result<json::value> ListBuilds(const Conn& conn, const std::string& ns, const std::string& function) {
  HttpRequest req;
  req.target = function.empty() ? "/v1/builds?namespace=" + ns : "/v1/builds/" + ns + "/" + function;
  auto r = Call(conn, std::move(req));
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    Fail("get builds", r);
    return Status(StatusCode::kUnavailable, "");
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) return Status(StatusCode::kInternal, "the admin API answered no JSON");
  return v;
}

}  // namespace

int GetBuilds(const Conn& conn, const std::string& ns, const std::string& function, const std::string& output,
              bool quiet_when_empty) {
  auto listed = ListBuilds(conn, ns, function);
  if (!listed.ok()) {
    if (!listed.status().message().empty()) std::fprintf(stderr, "ofn get builds: %s\n", listed.status().message().c_str());
    return 1;
  }
  const json::array* items = Arr(At(Obj(&*listed), "items"));
  if (output == "json" || output == "yaml") {
    json::value doc = json::object{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items ? *items : json::array{}}};
    std::printf("%s", output == "json" ? (spec::internal::EmitJson(doc, true) + "\n").c_str()
                                       : spec::internal::EmitYaml(doc).c_str());
    return 0;
  }
  if (output == "name") {
    if (items) {
      for (const json::value& b : *items) std::printf("build/%s\n", Str(Obj(&b), "name").c_str());
    }
    return 0;
  }
  if (!output.empty() && output != "wide") {
    std::fprintf(stderr, "error: builds print as a table, wide, yaml, json or name (got \"%s\")\n", output.c_str());
    return 1;
  }
  if (!items || items->empty()) {
    if (!quiet_when_empty) std::fprintf(stderr, "No builds found in %s namespace.\n", ns.c_str());
    return 0;
  }
  const bool all = ns == "all";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"NAME", "FUNCTION", "STATE", "COMMIT", "STRATEGY", "DURATION", "AGE"};
  if (output == "wide") head.push_back("REASON");
  if (all) head.insert(head.begin(), "NAMESPACE");
  rows.push_back(head);
  for (const json::value& v : *items) {
    const json::object* b = Obj(&v);
    std::vector<std::string> row = {Str(b, "name"), Str(b, "function"), Str(b, "state"),
                                    Str(b, "commit").empty() ? "-" : Short(Str(b, "commit")),
                                    Str(b, "strategy").empty() ? "-" : Str(b, "strategy"), Duration(b),
                                    Age(Int(b, "started"))};
    if (output == "wide") row.push_back(Str(b, "reason"));
    if (all) row.insert(row.begin(), Str(b, "namespace"));
    rows.push_back(std::move(row));
  }
  PrintTable(rows);
  return 0;
}

int DescribeBuild(const Conn& conn, const std::string& ns, const std::string& name) {
  auto listed = ListBuilds(conn, ns, "");
  if (!listed.ok()) {
    if (!listed.status().message().empty()) std::fprintf(stderr, "ofn describe: %s\n", listed.status().message().c_str());
    return 1;
  }
  const json::object* b = nullptr;
  if (const json::array* items = Arr(At(Obj(&*listed), "items"))) {
    for (const json::value& v : *items) {
      if (Str(Obj(&v), "name") == name) b = Obj(&v);
    }
  }
  if (!b) {
    std::fprintf(stderr, "ofn describe: build %s/%s not found (ofn get builds lists them)\n", ns.c_str(), name.c_str());
    return 1;
  }
  std::printf("Name:         %s\nNamespace:    %s\nFunction:     %s\n", name.c_str(), ns.c_str(),
              Str(b, "function").c_str());
  std::printf("State:        %s (%s)\n", Str(b, "state").c_str(), Str(b, "reason").c_str());
  std::printf("Trigger:      %s\n", Str(b, "trigger").c_str());
  std::printf("Source:       %s%s%s\n", Str(b, "url").c_str(),
              Str(b, "revision").empty() ? "" : (" @ " + Str(b, "revision")).c_str(),
              Str(b, "sourceSubPath").empty() ? "" : (" (" + Str(b, "sourceSubPath") + ")").c_str());
  if (!Str(b, "commit").empty()) std::printf("Commit:       %s\n", Str(b, "commit").c_str());
  if (!Str(b, "strategy").empty()) std::printf("Strategy:     %s\n", Str(b, "strategy").c_str());
  if (!Str(b, "artifact").empty()) std::printf("Artifact:     %s\n", Str(b, "artifact").c_str());
  if (!Str(b, "cachedFrom").empty()) std::printf("Cached from:  %s\n", Str(b, "cachedFrom").c_str());
  std::printf("Started:      %s ago\nDuration:     %s\n", Age(Int(b, "started")).c_str(), Duration(b).c_str());
  std::printf("Message:      %s\n", Str(b, "message").c_str());
  // The end of its log: each step it ran, and what the last one printed.
  HttpRequest req;
  req.target = "/v1/buildlogs/" + ns + "/" + Str(b, "function") + "?build=" + name;
  auto r = Call(conn, std::move(req));
  if (r.ok() && r->status == 200) {
    std::string text = r->body;
    size_t pos = text.size();
    for (int n = 0; n < 15 && pos != std::string::npos && pos > 0; ++n) pos = text.rfind('\n', pos - 1);
    std::string tail = pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
    std::printf("Log (ofn logs %s --build %s):\n", Str(b, "function").c_str(), name.c_str());
    for (size_t start = 0; start < tail.size();) {
      size_t nl = tail.find('\n', start);
      std::printf("  %s\n", tail.substr(start, nl == std::string::npos ? std::string::npos : nl - start).c_str());
      start = nl == std::string::npos ? tail.size() : nl + 1;
    }
  }
  return 0;
}

void PrintFunctionBuilds(const Conn& conn, const std::string& ns, const std::string& function) {
  HttpRequest req;
  req.target = "/v1/builds/" + ns + "/" + function;
  auto r = Call(conn, std::move(req));
  if (!r.ok() || r->status != 200) return;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec) return;
  if (const json::object* rc = Obj(At(Obj(&v), "revisionController"))) {
    const json::value* on = At(rc, "enabled");
    if (on && on->is_bool() && on->as_bool()) {
      std::printf("Revision controller: every %llds; %lld polls%s%s\n",
                  static_cast<long long>(Int(rc, "intervalSeconds")), static_cast<long long>(Int(rc, "polls")),
                  Str(rc, "lastCommit").empty() ? "" : (", last saw " + Short(Str(rc, "lastCommit"))).c_str(),
                  Str(rc, "nextPoll").empty() ? "" : (", next " + Str(rc, "nextPoll")).c_str());
    }
    if (!Str(rc, "error").empty()) std::printf("  Problem:  %s\n", Str(rc, "error").c_str());
  }
  const json::array* items = Arr(At(Obj(&v), "items"));
  if (!items || items->empty()) return;
  std::printf("Builds:\n");
  std::vector<std::vector<std::string>> rows{{"  NAME", "STATE", "COMMIT", "STRATEGY", "DURATION", "AGE", "REASON"}};
  for (const json::value& item : *items) {
    const json::object* b = Obj(&item);
    rows.push_back({"  " + Str(b, "name"), Str(b, "state"), Str(b, "commit").empty() ? "-" : Short(Str(b, "commit")),
                    Str(b, "strategy").empty() ? "-" : Str(b, "strategy"), Duration(b), Age(Int(b, "started")),
                    Str(b, "reason")});
  }
  PrintTable(rows);
}

void PrintBuildProgress(const Conn& conn, const std::string& ns, const std::string& function, std::string* last) {
  HttpRequest req;
  req.target = "/v1/builds/" + ns + "/" + function;
  auto r = Call(conn, std::move(req));
  if (!r.ok() || r->status != 200) return;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  const json::array* items = ec ? nullptr : Arr(At(Obj(&v), "items"));
  if (!items || items->empty()) return;
  const json::object* b = Obj(&items->back());
  std::string message = Str(b, "message");
  message = message.substr(0, message.find('\n'));
  std::string line = "build " + Str(b, "name") + ": " + Str(b, "state") + " (" + Str(b, "reason") + ") " + message;
  if (line == *last) return;
  *last = line;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void AddBuildCommands(CLI::App& app) {
  auto conn = std::make_shared<Conn>();
  auto names = std::make_shared<std::vector<std::string>>();
  auto ns = std::make_shared<std::string>("default");
  auto* cmd = app.add_subcommand("rebuild", "Build functions again from their source now (no cache), then roll out");
  cmd->add_option("name", *names, "function names")->required();
  cmd->add_option("-n,--namespace", *ns, "namespace")->capture_default_str();
  AddConnFlags(cmd, conn.get());
  cmd->callback([=] { PostEach(*conn, *ns, *names, "rebuild", "function \"%s\" rebuilding (ofn get builds %s)\n"); });
}

}  // namespace ofn::cli
