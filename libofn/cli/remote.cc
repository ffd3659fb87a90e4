// The commands that talk to a running `ofn serve` through its admin API:
// apply, get, describe, delete, invoke (and logs, in logs.cc).
#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "libofn/spec/internal/components.h"
#include "libofn/common/internal/json_access.h"
#include "libofn/cli/commands.h"
#include "libofn/cli/remote.h"
#include "libofn/common/clock.h"
#include "libofn/gateway/client.h"
#include "libofn/spec/object.h"
#include "libofn/spec/internal/emit.h"

namespace ofn::cli {

namespace json = boost::json;

void AddConnFlags(CLI::App* cmd, Conn* c) {
  cmd->add_option("--state-dir", c->state_dir, "state dir of the `ofn serve` to talk to")
      ->capture_default_str()
      ->envname("OFN_STATE_DIR");
  cmd->add_option("--server", c->server, "admin API address (unix:/path or 127.0.0.1:port)")->envname("OFN_SERVER");
  cmd->add_option("--token-file", c->token_file, "bearer token file for a TCP admin address (default: the state "
                                                 "dir's admin.token; OFN_TOKEN gives the token itself)")
      ->envname("OFN_TOKEN_FILE");
}

Result<std::vector<ManifestText>> ReadManifests(const std::vector<std::string>& names, bool recursive) {
  std::vector<ManifestText> out;
  std::error_code ec;
  auto dir_of = [&ec](const std::string& file) {
    return std::filesystem::absolute(file, ec).parent_path().lexically_normal().string();
  };
  for (const std::string& name : names) {
    if (name == "-") {
      std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      out.push_back({"<stdin>", std::move(text), std::filesystem::current_path(ec).string()});
      continue;
    }
    if (std::filesystem::is_directory(name, ec)) {
      // Like kubectl: the directory's .yaml, .yml and .json files, in name order (-R: below it too).
      std::vector<std::string> files;
      auto take = [&](const std::filesystem::directory_entry& e) {
        std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path().string());
      };
      if (recursive) {
        for (const auto& e : std::filesystem::recursive_directory_iterator(name, ec)) take(e);
      } else {
        for (const auto& e : std::filesystem::directory_iterator(name, ec)) take(e);
      }
      if (ec) return Status(StatusCode::kInvalidArgument, "cannot read the directory " + name + ": " + ec.message());
      std::sort(files.begin(), files.end());
      for (const std::string& f : files) {
        std::ifstream in(f, std::ios::binary);
        out.push_back({f, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), dir_of(f)});
      }
      continue;
    }
    std::ifstream in(name, std::ios::binary);
    if (!in) return Status(StatusCode::kNotFound, "the path \"" + name + "\" does not exist");
    out.push_back({name, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), dir_of(name)});
  }
  return out;
}

Result<HttpResponse> Call(const Conn& c, HttpRequest req) {
  std::string address = c.server.empty() ? "unix:" + c.state_dir + "/admin.sock" : c.server;
  if (address.rfind("unix:", 0) != 0) {
    std::string file = c.token_file.empty() ? c.state_dir + "/admin.token" : c.token_file;
    std::string token;
    if (const char* env = std::getenv("OFN_TOKEN"); env && *env && c.token_file.empty()) {
      token = env;
    } else if (std::ifstream in(file); !in || !std::getline(in, token)) {
      return Status(StatusCode::kPermissionDenied, "cannot read the admin token from " + file +
                                                       " (set OFN_TOKEN or --token-file)");
    }
    req.headers.Set("Authorization", "Bearer " + token);
  }
  auto r = gateway::HttpCall(address, req, std::chrono::minutes(5));
  if (!r.ok()) {
    return Status(r.status().code(), r.status().message() + " (is `ofn serve` running with this --state-dir?)");
  }
  return r;
}

int Fail(const std::string& what, const Result<HttpResponse>& r) {
  if (!r.ok()) {
    std::fprintf(stderr, "ofn %s: %s\n", what.c_str(), r.status().message().c_str());
    return 1;
  }
  std::string msg = r->body;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (!ec && v.is_object()) {
    if (auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      if (auto* m = e->as_object().if_contains("message"); m && m->is_string()) msg = std::string(m->as_string());
    }
  }
  std::fprintf(stderr, "ofn %s: %s\n", what.c_str(), msg.c_str());
  return 1;
}

using ofn::internal::Arr;
using ofn::internal::At;
using ofn::internal::Obj;
using ofn::internal::Str;

std::string Age(const std::string& created) {
  Clock::TimePoint t;
  if (!ParseRfc3339(created, &t)) return "<unknown>";
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::System()->Now() - t).count();
  if (secs < 0) secs = 0;
  if (secs < 120) return std::to_string(secs) + "s";
  long mins = secs / 60;
  if (mins < 10) return std::to_string(mins) + "m" + (secs % 60 ? std::to_string(secs % 60) + "s" : "");
  if (mins < 180) return std::to_string(mins) + "m";
  long hours = mins / 60;
  if (hours < 48) return std::to_string(hours) + "h";
  return std::to_string(hours / 24) + "d";
}

std::string Age(int64_t epoch_seconds) { return Age(FormatRfc3339(Clock::TimePoint(std::chrono::seconds(epoch_seconds)))); }

namespace {

std::string Address(const json::object* status, std::string_view type) {
  const json::value* a = At(status, "addresses");
  if (!a || !a->is_array()) return "";
  for (const json::value& v : a->as_array()) {
    if (Str(Obj(&v), "type") == type) return Str(Obj(&v), "value");
  }
  return "";
}

}  // namespace

void PostEach(const Conn& conn, const std::string& ns, const std::vector<std::string>& names,
              const std::string& action, const char* done_format) {
  for (const std::string& name : names) {
    HttpRequest req;
    req.method = "POST";
    req.target = "/v1/" + action + "/" + ns + "/" + name;
    auto r = Call(conn, std::move(req));
    if (!r.ok() || r->status != 200) {
      ExitCode() = Fail(action, r);
      continue;
    }
    std::printf(done_format, name.c_str(), name.c_str());
  }
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

namespace {

// With `namespaces` (-A), a NAMESPACE column first, as kubectl does.
// `wide` (-o wide) adds the latest ready revision, the serving reason and
// the internal address.
void PrintFunctions(const json::array& items, bool namespaces, bool wide = false) {
  std::vector<std::vector<std::string>> rows{{"NAME", "BUILDSTATE", "SERVINGSTATE", "BUILDER", "SERVING", "ADDRESS", "AGE"}};
  if (wide) rows[0].insert(rows[0].end(), {"READY-REVISION", "REASON", "INTERNAL"});
  if (namespaces) rows[0].insert(rows[0].begin(), "NAMESPACE");
  for (const json::value& item : items) {
    const json::object* o = Obj(&item);
    const json::object* meta = Obj(At(o, "metadata"));
    const json::object* st = Obj(At(o, "status"));
    // A route that was not accepted shows where the address would be.
    std::string address = Address(st, "External");
    if (address.empty()) {
      if (const json::array* conds = Arr(At(Obj(At(st, "route")), "conditions"))) {
        for (const json::value& c : *conds) {
          if (Str(Obj(&c), "type") == "Accepted" && Str(Obj(&c), "status") == "False") {
            address = "<route not accepted: " + Str(Obj(&c), "reason") + ">";
          }
        }
      }
    }
    rows.push_back({Str(meta, "name"), Str(Obj(At(st, "build")), "state"), Str(Obj(At(st, "serving")), "state"),
                    Str(Obj(At(st, "build")), "resourceRef"), Str(Obj(At(st, "serving")), "resourceRef"), address,
                    Age(Str(meta, "creationTimestamp"))});
    if (wide) {
      const json::object* serving = Obj(At(st, "serving"));
      std::string ready = Str(serving, "lastSuccessfulResourceRef"), reason = Str(serving, "reason");
      std::string internal = Address(st, "Internal");
      rows.back().insert(rows.back().end(),
                         {ready.empty() ? "-" : ready, reason.empty() ? "-" : reason, internal.empty() ? "-" : internal});
    }
    if (namespaces) rows.back().insert(rows.back().begin(), Str(meta, "namespace"));
  }
  PrintTable(rows);
}

std::string Fixed(const json::value* v, int digits) {
  if (!v || !v->is_number()) return "0";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v->to_number<double>());
  return buf;
}

void PrintRevisions(const json::array& items, bool namespaces) {
  std::vector<std::vector<std::string>> rows{{"NAME", "FUNCTION", "READY", "TRAFFIC", "TAGS", "INSTANCES",
                                              "CONCURRENCY", "RPS", "PANIC", "QUEUED", "COLDSTARTS", "AGE"}};
  if (namespaces) rows[0].insert(rows[0].begin(), "NAMESPACE");
  for (const json::value& item : items) {
    const json::object* o = Obj(&item);
    const json::object* rev = Obj(At(o, "object"));
    const json::object* meta = Obj(At(rev, "metadata"));
    std::string tags;
    if (const json::value* t = At(o, "tags"); t && t->is_array()) {
      for (const json::value& tag : t->as_array()) tags += (tags.empty() ? "" : ",") + std::string(tag.as_string());
    }
    const json::value* ready = At(o, "ready");
    const json::value* panic = At(o, "panic");
    rows.push_back({Str(meta, "name"), Str(Obj(At(meta, "labels")), "serving.knative.dev/configuration"),
                    ready && ready->is_bool() && ready->as_bool() ? "True" : "False",
                    Fixed(At(o, "percent"), 0) + "%", tags.empty() ? "-" : tags,
                    Fixed(At(o, "readyInstances"), 0) + "/" + Fixed(At(o, "desiredInstances"), 0),
                    Fixed(At(o, "concurrency"), 2), Fixed(At(o, "rps"), 2),
                    panic && panic->is_bool() && panic->as_bool() ? "yes" : "no", Fixed(At(o, "queued"), 0),
                    Fixed(At(o, "coldStarts"), 0), Age(Str(meta, "creationTimestamp"))});
    if (namespaces) rows.back().insert(rows.back().begin(), Str(meta, "namespace"));
  }
  PrintTable(rows);
}

void PrintHttpRoutes(const json::array& items) {
  std::vector<std::vector<std::string>> rows{{"NAMESPACE", "NAME", "HOSTNAMES", "ACCEPTED", "AGE"}};
  for (const json::value& item : items) {
    const json::object* o = Obj(&item);
    const json::object* meta = Obj(At(o, "metadata"));
    std::string hosts;
    if (const json::array* h = Arr(At(Obj(At(o, "spec")), "hostnames"))) {
      for (const json::value& v : *h) hosts += (hosts.empty() ? "" : ",") + std::string(v.is_string() ? v.as_string() : "");
    }
    int parents = 0, accepted = 0;
    if (const json::array* ps = Arr(At(Obj(At(o, "status")), "parents"))) {
      for (const json::value& p : *ps) {
        ++parents;
        const json::array* conds = Arr(At(Obj(&p), "conditions"));
        for (size_t i = 0; conds && i < conds->size(); ++i) {
          const json::object* c = Obj(&(*conds)[i]);
          if (Str(c, "type") == "Accepted" && Str(c, "status") == "True") ++accepted;
        }
      }
    }
    rows.push_back({Str(meta, "namespace"), Str(meta, "name"), hosts.empty() ? "*" : hosts,
                    std::to_string(accepted) + "/" + std::to_string(parents), Age(Str(meta, "creationTimestamp"))});
  }
  PrintTable(rows);
}

// Where each rule of a route (a Function's spec.serving.triggers.http.route,
// or an HTTPRoute's spec) sends its requests: the matches, then the
// backends with their weights, or `own` when the rule has none.
void PrintRules(const json::object* route, const std::string& own) {
  const json::array* rules = Arr(At(route, "rules"));
  if (!rules) return;
  for (size_t i = 0; i < rules->size(); ++i) {
    const json::object* r = Obj(&(*rules)[i]);
    std::string match;
    if (const json::array* ms = Arr(At(r, "matches"))) {
      for (const json::value& mv : *ms) {
        const json::object* m = Obj(&mv);
        const json::object* path = Obj(At(m, "path"));
        std::string one = Str(path, "type", "PathPrefix") + " " + Str(path, "value", "/");
        if (const json::array* hs = Arr(At(m, "headers"))) {
          for (const json::value& h : *hs) one += " " + Str(Obj(&h), "name") + "=" + Str(Obj(&h), "value");
        }
        if (!Str(m, "method").empty()) one += " " + Str(m, "method");
        match += (match.empty() ? "" : " | ") + one;
      }
    }
    std::string to;
    const json::array* refs = Arr(At(r, "backendRefs"));
    int total = 0;
    for (size_t j = 0; refs && j < refs->size(); ++j) {
      const json::value* w = At(Obj(&(*refs)[j]), "weight");
      total += w && w->is_int64() ? static_cast<int>(w->as_int64()) : 1;
    }
    for (size_t j = 0; refs && j < refs->size(); ++j) {
      const json::object* b = Obj(&(*refs)[j]);
      const json::value* w = At(b, "weight");
      int weight = w && w->is_int64() ? static_cast<int>(w->as_int64()) : 1;
      char share[32];
      std::snprintf(share, sizeof share, "%d%%", total > 0 ? (100 * weight + total / 2) / total : 0);
      to += (to.empty() ? "" : ", ") + Str(b, "name") + " (weight " + std::to_string(weight) + ", " + share + ")";
    }
    bool redirect = false;
    if (const json::array* fs = Arr(At(r, "filters"))) {
      for (const json::value& f : *fs) redirect = redirect || Str(Obj(&f), "type") == "RequestRedirect";
    }
    if (to.empty()) to = redirect ? "a redirect" : own;
    std::printf("  Rule %zu:    %s -> %s\n", i, match.empty() ? "every request" : match.c_str(), to.c_str());
  }
}

void PrintGeneric(const json::array& items) {
  // Dapr Components show their type, as `kubectl get components` does.
  bool components = !items.empty() && Str(Obj(&items.front()), "kind") == "Component";
  std::vector<std::vector<std::string>> rows{{"NAMESPACE", "NAME", "AGE"}};
  if (components) rows[0] = {"NAMESPACE", "NAME", "TYPE", "VERSION", "AGE"};
  for (const json::value& item : items) {
    const json::object* meta = Obj(At(Obj(&item), "metadata"));
    if (components) {
      const json::object* spec = Obj(At(Obj(&item), "spec"));
      rows.push_back({Str(meta, "namespace"), Str(meta, "name"), Str(spec, "type"), Str(spec, "version"),
                      Age(Str(meta, "creationTimestamp"))});
    } else {
      rows.push_back({Str(meta, "namespace"), Str(meta, "name"), Age(Str(meta, "creationTimestamp"))});
    }
  }
  PrintTable(rows);
}

void Describe(const json::object* o) {
  const json::object* meta = Obj(At(o, "metadata"));
  const json::object* spec = Obj(At(o, "spec"));
  const json::object* st = Obj(At(o, "status"));
  std::printf("Name:         %s\n", Str(meta, "name").c_str());
  std::printf("Namespace:    %s\n", Str(meta, "namespace").c_str());
  std::printf("Kind:         %s\n", Str(o, "kind").c_str());
  std::printf("API Version:  %s\n", Str(o, "apiVersion").c_str());
  std::printf("Created:      %s (%s ago)\n", Str(meta, "creationTimestamp").c_str(),
              Age(Str(meta, "creationTimestamp")).c_str());
  if (const json::value* g = At(meta, "generation")) std::printf("Generation:   %s\n", json::serialize(*g).c_str());
  if (Str(o, "kind") == "Function") {
    std::printf("Image:        %s\n", Str(spec, "image").c_str());
    std::printf("Version:      %s\n", Str(spec, "version").c_str());
    const json::object* build = Obj(At(st, "build"));
    const json::object* serving = Obj(At(st, "serving"));
    std::printf("Build:\n  State:      %s\n", Str(build, "state").c_str());
    if (!Str(build, "message").empty()) std::printf("  Message:    %s\n", Str(build, "message").c_str());
    std::printf("Serving:\n  State:      %s\n", Str(serving, "state").c_str());
    std::printf("  Resource:   %s\n", Str(serving, "resourceRef").c_str());
    if (!Str(serving, "service").empty()) std::printf("  Service:    %s\n", Str(serving, "service").c_str());
    if (!Str(serving, "reason").empty()) std::printf("  Reason:     %s\n", Str(serving, "reason").c_str());
    if (!Str(serving, "message").empty()) std::printf("  Message:    %s\n", Str(serving, "message").c_str());
    // The async runtime's side: what triggers it and where it sends.
    const json::object* sv = Obj(At(spec, "serving"));
    auto component_type = [&](const json::object* ref) {
      std::string type = Str(ref, "type");
      if (type.empty()) type = Str(spec::EmbeddedComponent(sv, Str(ref, "name")), "type");
      return type.empty() ? std::string("a Component object") : type;
    };
    if (const json::array* inputs = Arr(At(Obj(At(sv, "triggers")), "dapr")); inputs && !inputs->empty()) {
      std::printf("Inputs:\n");
      for (const json::value& t : *inputs) {
        const json::object* to = Obj(&t);
        std::string topic = Str(to, "topic");
        std::printf("  %s (%s)%s\n", Str(to, "name").c_str(), component_type(to).c_str(),
                    topic.empty() ? "" : (" topic " + topic).c_str());
      }
    }
    if (const json::array* outputs = Arr(At(sv, "outputs")); outputs && !outputs->empty()) {
      std::printf("Outputs:\n");
      for (const json::value& v : *outputs) {
        const json::object* d = Obj(At(Obj(&v), "dapr"));
        std::string topic = Str(d, "topic"), op = Str(d, "operation");
        std::printf("  %s (%s)%s%s\n", Str(d, "name").c_str(), component_type(d).c_str(),
                    topic.empty() ? "" : (" topic " + topic).c_str(), op.empty() ? "" : (" operation " + op).c_str());
      }
    }
    if (const json::value* a = At(st, "addresses"); a && a->is_array()) {
      std::printf("Addresses:\n");
      for (const json::value& v : a->as_array()) {
        std::printf("  %-9s %s\n", (Str(Obj(&v), "type") + ":").c_str(), Str(Obj(&v), "value").c_str());
      }
    }
    if (const json::object* route = Obj(At(st, "route"))) {
      std::printf("Route:\n");
      PrintRules(Obj(At(Obj(At(Obj(At(Obj(At(spec, "serving")), "triggers")), "http")), "route")),
                 "this function (" + Str(meta, "name") + ")");
      if (const json::value* h = At(route, "hosts"); h && h->is_array()) {
        for (const json::value& v : h->as_array()) std::printf("  Host:      %s\n", std::string(v.as_string()).c_str());
      }
      if (const json::value* p = At(route, "paths"); p && p->is_array()) {
        for (const json::value& v : p->as_array()) {
          std::printf("  Path:      %s %s\n", Str(Obj(&v), "type").c_str(), Str(Obj(&v), "value").c_str());
        }
      }
      if (const json::value* c = At(route, "conditions"); c && c->is_array()) {
        for (const json::value& v : c->as_array()) {
          const json::object* co = Obj(&v);
          std::printf("  Condition: %s=%s %s: %s (since %s)\n", Str(co, "type").c_str(), Str(co, "status").c_str(),
                      Str(co, "reason").c_str(), Str(co, "message").c_str(), Str(co, "lastTransitionTime").c_str());
        }
      }
    }
  } else if (Str(o, "kind") == "HTTPRoute") {
    std::printf("Rules:\n");
    PrintRules(spec, "nothing (500: no backendRefs)");
    if (const json::array* ps = Arr(At(st, "parents"))) {
      std::printf("Parents:\n");
      for (const json::value& p : *ps) {
        const json::object* ref = Obj(At(Obj(&p), "parentRef"));
        std::string section = Str(ref, "sectionName");
        std::printf("  %s/%s%s\n", Str(ref, "namespace").c_str(), Str(ref, "name").c_str(),
                    section.empty() ? "" : (" (listener " + section + ")").c_str());
        if (const json::array* conds = Arr(At(Obj(&p), "conditions"))) {
          for (const json::value& c : *conds) {
            const json::object* co = Obj(&c);
            std::printf("    %s=%s %s: %s\n", Str(co, "type").c_str(), Str(co, "status").c_str(),
                        Str(co, "reason").c_str(), Str(co, "message").c_str());
          }
        }
      }
    }
  } else if (spec) {
    // Indented under "Spec:", as kubectl describe does.
    std::string yaml = spec::internal::EmitYaml(*At(o, "spec")), indented;
    for (size_t start = 0; start < yaml.size();) {
      size_t nl = yaml.find('\n', start);
      std::string_view line(yaml.data() + start, (nl == std::string::npos ? yaml.size() : nl) - start);
      indented += "  " + std::string(line) + "\n";
      start = nl == std::string::npos ? yaml.size() : nl + 1;
    }
    std::printf("Spec:\n%s", indented.c_str());
  }
}

// The Function's recent changes (the platform keeps its last changes), as
// kubectl describe shows events: when, and what its status said then.
void PrintRecentChanges(const Conn& conn, const std::string& ns, const std::string& name) {
  HttpRequest req;
  req.target = "/v1/watch?kind=Function&namespace=" + ns + "&since=0&timeout=0";
  auto r = Call(conn, std::move(req));
  if (!r.ok() || r->status != 200) return;
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  const json::array* events = ec ? nullptr : Arr(At(Obj(&v), "events"));
  if (!events) return;
  std::vector<std::vector<std::string>> rows;
  std::string last;
  for (const json::value& e : *events) {
    const json::object* obj = Obj(At(Obj(&e), "object"));
    if (Str(Obj(At(obj, "metadata")), "name") != name) continue;
    const json::object* serving = Obj(At(Obj(At(obj, "status")), "serving"));
    std::string what = Str(Obj(&e), "type") == "MODIFIED" && !serving ? "spec changed" : Str(serving, "state");
    if (!Str(serving, "reason").empty()) what += " (" + Str(serving, "reason") + ")";
    if (Str(Obj(&e), "type") == "ADDED") what = "created";
    if (Str(Obj(&e), "type") == "DELETED") what = "deleted";
    if (what == last || what.empty()) continue;  // status rewrites that say the same
    last = what;
    rows.push_back({"  " + Str(Obj(&e), "time"), Str(Obj(&e), "type"),
                    "generation " + json::serialize(At(Obj(At(obj, "metadata")), "generation")
                                                        ? *At(Obj(At(obj, "metadata")), "generation")
                                                        : json::value(0)),
                    what});
  }
  if (rows.empty()) return;
  if (rows.size() > 10) rows.erase(rows.begin(), rows.end() - 10);
  std::printf("Events:\n");
  PrintTable(rows);
}

// `ofn describe revision NAME`: the revision as the platform sees it.
int DescribeRevision(const Conn& conn, const std::string& ns, const std::string& name) {
  HttpRequest req;
  req.target = "/v1/revisions?namespace=" + ns;
  auto r = Call(conn, std::move(req));
  if (!r.ok() || r->status != 200) return Fail("describe", r);
  json::value v = json::parse(r->body);
  for (const json::value& item : v.as_object().at("items").as_array()) {
    const json::object* o = Obj(&item);
    const json::object* rev = Obj(At(o, "object"));
    const json::object* meta = Obj(At(rev, "metadata"));
    if (Str(meta, "name") != name) continue;
    std::printf("Name:         %s\n", name.c_str());
    std::printf("Namespace:    %s\n", Str(meta, "namespace").c_str());
    std::printf("Kind:         Revision (serving.knative.dev/v1)\n");
    std::printf("Function:     %s\n", Str(Obj(At(meta, "labels")), "serving.knative.dev/configuration").c_str());
    std::printf("Created:      %s (%s ago)\n", Str(meta, "creationTimestamp").c_str(),
                Age(Str(meta, "creationTimestamp")).c_str());
    const json::value* ready = At(o, "ready");
    std::printf("Ready:        %s\n", ready && ready->is_bool() && ready->as_bool() ? "True" : "False");
    std::string tags;
    if (const json::array* t = Arr(At(o, "tags"))) {
      for (const json::value& tag : *t) tags += (tags.empty() ? "" : ",") + std::string(tag.as_string());
    }
    std::printf("Traffic:      %s%%%s\n", Fixed(At(o, "percent"), 0).c_str(), tags.empty() ? "" : (" (tags: " + tags + ")").c_str());
    std::printf("Instances:    %s ready of %s desired\n", Fixed(At(o, "readyInstances"), 0).c_str(),
                Fixed(At(o, "desiredInstances"), 0).c_str());
    std::printf("Load:         concurrency %s, %s req/s, %s queued%s\n", Fixed(At(o, "concurrency"), 2).c_str(),
                Fixed(At(o, "rps"), 2).c_str(), Fixed(At(o, "queued"), 0).c_str(),
                At(o, "panic") && At(o, "panic")->is_bool() && At(o, "panic")->as_bool() ? ", panicking" : "");
    std::printf("Cold starts:  %s\nRestarts:     %s\n", Fixed(At(o, "coldStarts"), 0).c_str(),
                Fixed(At(o, "restarts"), 0).c_str());
    if (const json::object* keda = Obj(At(o, "keda"))) {
      const json::value* active = At(keda, "active");
      std::printf("Scaler:       KEDA, %s (last poll: %s)\n",
                  active && active->is_bool() && active->as_bool() ? "active" : "inactive",
                  Str(keda, "reason").empty() ? "none yet" : Str(keda, "reason").c_str());
      if (const json::object* jobs = Obj(At(keda, "jobs"))) {
        std::printf("Jobs:         %s running, %s succeeded, %s failed\n", Fixed(At(jobs, "running"), 0).c_str(),
                    Fixed(At(jobs, "succeeded"), 0).c_str(), Fixed(At(jobs, "failed"), 0).c_str());
      }
      if (const json::array* triggers = Arr(At(keda, "triggers"))) {
        for (const json::value& t : *triggers) {
          const json::object* to = Obj(&t);
          std::string error = Str(to, "error");
          std::printf("  %s (%s): %s\n", Str(to, "name").c_str(), Str(to, "type").c_str(),
                      error.empty() ? Fixed(At(to, "value"), 0).c_str() : ("failing: " + error).c_str());
        }
      }
    }
    if (const json::array* conds = Arr(At(Obj(At(rev, "status")), "conditions"))) {
      std::printf("Conditions:\n");
      for (const json::value& c : *conds) {
        const json::object* co = Obj(&c);
        std::string line = "  " + Str(co, "type") + "=" + Str(co, "status");
        if (!Str(co, "reason").empty()) line += " " + Str(co, "reason");
        if (!Str(co, "message").empty()) line += ": " + Str(co, "message");
        std::printf("%s\n", line.c_str());
      }
    }
    if (const json::value* spec = At(rev, "spec")) {
      std::string yaml = spec::internal::EmitYaml(*spec);
      std::printf("Spec:\n");
      for (size_t start = 0; start < yaml.size();) {
        size_t nl = yaml.find('\n', start);
        std::printf("  %s\n", yaml.substr(start, nl == std::string::npos ? std::string::npos : nl - start).c_str());
        start = nl == std::string::npos ? yaml.size() : nl + 1;
      }
    }
    return 0;
  }
  std::fprintf(stderr, "ofn describe: revision %s/%s not found\n", ns.c_str(), name.c_str());
  return 1;
}

struct GetFlags {
  std::vector<std::string> args;
  std::string ns = "default";
  bool all = false;
  bool watch = false;
  std::string output;
  std::string selector;
};

// Whether an object's labels satisfy a label selector (kubectl's equality
// and existence forms: k=v, k==v, k!=v, k, !k, comma-separated).
Result<bool> Selects(const json::object* labels, const std::string& selector) {
  size_t pos = 0;
  while (pos <= selector.size() && !selector.empty()) {
    size_t comma = selector.find(',', pos);
    std::string term = selector.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? selector.size() + 1 : comma + 1;
    while (!term.empty() && term.front() == ' ') term.erase(0, 1);
    while (!term.empty() && term.back() == ' ') term.pop_back();
    if (term.empty()) return Status(StatusCode::kInvalidArgument, "empty term in selector \"" + selector + "\"");
    const json::value* have = nullptr;
    auto get = [&](const std::string& key) { return labels ? labels->if_contains(key) : nullptr; };
    if (size_t ne = term.find("!="); ne != std::string::npos) {
      have = get(term.substr(0, ne));
      if (have && have->is_string() && have->as_string() == term.substr(ne + 2)) return false;
    } else if (size_t eq = term.find('='); eq != std::string::npos) {
      size_t value_at = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      have = get(term.substr(0, eq));
      if (!have || !have->is_string() || have->as_string() != term.substr(value_at)) return false;
    } else if (term[0] == '!') {
      if (get(term.substr(1))) return false;
    } else if (!get(term)) {
      return false;
    }
  }
  return true;
}

// A JSONPath template as kubectl's -o jsonpath takes it, in the subset
// used on the command line: text with {…} holding .field, [N] and [*]
// steps, ['name'] and \. for names with dots (and {"\n"}-style literals);
// lists are joined with spaces.
Result<std::string> JsonPath(const json::value& root, const std::string& tmpl) {
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find('{', pos);
    out += tmpl.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (open == std::string::npos) break;
    size_t close = tmpl.find('}', open);
    if (close == std::string::npos) return Status(StatusCode::kInvalidArgument, "jsonpath: unclosed \"{\"");
    std::string expr = tmpl.substr(open + 1, close - open - 1);
    pos = close + 1;
    if (expr.size() >= 2 && expr.front() == '"' && expr.back() == '"') {
      std::string lit = expr.substr(1, expr.size() - 2);
      for (size_t i = 0; i + 1 < lit.size(); ++i) {
        if (lit[i] == '\\' && (lit[i + 1] == 'n' || lit[i + 1] == 't')) lit.replace(i, 2, lit[i + 1] == 'n' ? "\n" : "\t");
      }
      out += lit;
      continue;
    }
    std::vector<const json::value*> cur{&root};
    size_t i = 0;
    if (!expr.empty() && expr[0] == '$') i = 1;
    while (i < expr.size()) {
      std::vector<const json::value*> next;
      if (expr[i] == '.') {
        // A field name ends at an unescaped "." or "["; "\." is a dot in it
        // (kubectl's {.metadata.annotations.ofn\.io/base-dir}).
        std::string field;
        for (++i; i < expr.size() && expr[i] != '.' && expr[i] != '['; ++i) {
          if (expr[i] == '\\' && i + 1 < expr.size()) ++i;
          field += expr[i];
        }
        if (field.empty()) continue;
        for (const json::value* v : cur) {
          if (const json::object* o = v->if_object(); o && o->contains(field)) next.push_back(&o->at(field));
        }
      } else if (expr[i] == '[') {
        size_t end = expr.find(']', i);
        if (end == std::string::npos) return Status(StatusCode::kInvalidArgument, "jsonpath: unclosed \"[\"");
        std::string index = expr.substr(i + 1, end - i - 1);
        i = end + 1;
        if (index.size() >= 2 && (index.front() == '\'' || index.front() == '"') && index.back() == index.front()) {
          // ['ofn.io/base-dir']: a field named by a string.
          std::string field = index.substr(1, index.size() - 2);
          for (const json::value* v : cur) {
            if (const json::object* o = v->if_object(); o && o->contains(field)) next.push_back(&o->at(field));
          }
          cur = std::move(next);
          continue;
        }
        for (const json::value* v : cur) {
          const json::array* a = v->if_array();
          if (!a) continue;
          if (index == "*") {
            for (const json::value& e : *a) next.push_back(&e);
          } else {
            char* rest = nullptr;
            long n = std::strtol(index.c_str(), &rest, 10);
            if (!rest || *rest != '\0' || index.empty()) {
              return Status(StatusCode::kInvalidArgument, "jsonpath: unsupported index [" + index + "]");
            }
            if (n < 0) n += static_cast<long>(a->size());
            if (n >= 0 && static_cast<size_t>(n) < a->size()) next.push_back(&(*a)[static_cast<size_t>(n)]);
          }
        }
      } else {
        return Status(StatusCode::kInvalidArgument, "jsonpath: unexpected \"" + expr.substr(i) + "\"");
      }
      cur = std::move(next);
    }
    for (size_t k = 0; k < cur.size(); ++k) {
      if (k) out += " ";
      out += cur[k]->is_string() ? std::string(cur[k]->as_string()) : json::serialize(*cur[k]);
    }
  }
  return out;
}

// One resource kind of `ofn get`; what `get all` runs for each kind.
// The platform's table of Functions (GET /v1/functions?view=table), as
// PrintFunctions shows the objects.
int PrintFunctionRows(const json::array& rows, const GetFlags& f, bool quiet_when_empty) {
  const bool wide = f.output == "wide";
  std::vector<std::vector<std::string>> table{{"NAME", "BUILDSTATE", "SERVINGSTATE", "BUILDER", "SERVING", "ADDRESS", "AGE"}};
  if (wide) table[0].insert(table[0].end(), {"READY-REVISION", "REASON", "INTERNAL"});
  if (f.all) table[0].insert(table[0].begin(), "NAMESPACE");
  table.reserve(rows.size() + 1);
  for (const json::value& row : rows) {
    const json::object* o = Obj(&row);
    if (!f.selector.empty()) {
      Result<bool> ok = Selects(Obj(At(o, "labels")), f.selector);
      if (!ok.ok()) {
        std::fprintf(stderr, "error: %s\n", ok.status().message().c_str());
        return 1;
      }
      if (!*ok) continue;
    }
    std::string address = Str(o, "external");
    if (address.empty() && Str(o, "route") == "False") address = "<route not accepted: " + Str(o, "routeReason") + ">";
    table.push_back({Str(o, "name"), Str(o, "buildState"), Str(o, "servingState"), Str(o, "build"), Str(o, "serving"),
                     address, Age(Str(o, "created"))});
    if (wide) {
      auto dash = [](std::string s) { return s.empty() ? std::string("-") : s; };
      table.back().insert(table.back().end(),
                          {dash(Str(o, "ready")), dash(Str(o, "reason")), dash(Str(o, "internal"))});
    }
    if (f.all) table.back().insert(table.back().begin(), Str(o, "namespace"));
  }
  if (table.size() == 1) {
    if (!quiet_when_empty) {
      std::fprintf(stderr, "No resources found in %s namespace.\n", f.all ? "any" : f.ns.c_str());
    }
    return 0;
  }
  PrintTable(table);
  return 0;
}

int GetOne(const Conn& conn, const GetFlags& f, const std::string& res, bool quiet_when_empty) {
  if (res == "builds" || res == "build") {
    return GetBuilds(conn, f.all ? "all" : f.ns, f.args.size() == 2 ? f.args[1] : "", f.output, quiet_when_empty);
  }
  HttpRequest req;
  const bool revisions = res == "revisions" || res == "revision" || res == "rev";
  const bool single = f.args.size() == 2 && !revisions;
  std::string scope = "?namespace=" + (f.all ? std::string("all") : f.ns);
  if (revisions) {
    req.target = f.args.size() == 2 ? "/v1/revisions/" + f.ns + "/" + f.args[1] : "/v1/revisions" + scope;
  } else {
    req.target = "/v1/" + res + (single ? "/" + f.ns + "/" + f.args[1] : scope);
    // A table of Functions is summed up by the platform (other kinds ignore it).
    if (!single && (f.output.empty() || f.output == "wide")) req.target += "&view=table";
  }
  auto r = Call(conn, std::move(req));
  if (!r.ok() || r->status != 200) return Fail("get", r);
  // Parsed once into one arena, moved, never deep-copied: a list of
  // 10,000 Functions is tens of megabytes of values.
  json::monotonic_resource arena;
  json::value v = json::parse(r->body, &arena);
  r->body.clear();
  r->body.shrink_to_fit();
  if (const json::array* rows = Arr(At(Obj(&v), "rows"))) {
    return PrintFunctionRows(*rows, f, quiet_when_empty);
  }
  json::array items(&arena);
  if (single) {
    items.push_back(std::move(v));
  } else {
    items = std::move(v.as_object()["items"].as_array());
  }
  if (!f.selector.empty()) {
    json::array kept(&arena);
    for (json::value& item : items) {
      const json::value* o = revisions ? At(Obj(&item), "object") : &item;
      Result<bool> ok = Selects(Obj(At(Obj(At(Obj(o), "metadata")), "labels")), f.selector);
      if (!ok.ok()) {
        std::fprintf(stderr, "error: %s\n", ok.status().message().c_str());
        return 1;
      }
      if (*ok) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  // The objects themselves (a revision row carries its Knative Revision).
  auto object_at = [&](size_t i) -> const json::value& {
    return revisions ? items[i].as_object().at("object") : items[i];
  };
  if (single && items.empty()) {
    std::fprintf(stderr, "No resources found in %s namespace.\n", f.ns.c_str());
    return 0;
  }
  auto document = [&] {
    if (single) return json::value(object_at(0));
    json::array objects;
    for (size_t i = 0; i < items.size(); ++i) objects.push_back(object_at(i));
    return json::value(json::object{{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(objects)}});
  };
  if (f.output == "json") {
    std::printf("%s\n", spec::internal::EmitJson(document(), true).c_str());
    return 0;
  }
  if (f.output == "yaml") {
    std::printf("%s", spec::internal::EmitYaml(document()).c_str());
    return 0;
  }
  if (f.output.rfind("jsonpath=", 0) == 0) {
    Result<std::string> text = JsonPath(document(), f.output.substr(9));
    if (!text.ok()) {
      std::fprintf(stderr, "error: %s\n", text.status().message().c_str());
      return 1;
    }
    std::printf("%s", text->c_str());
    return 0;
  }
  if (f.output == "name") {
    for (size_t i = 0; i < items.size(); ++i) {
      const json::value& o = object_at(i);
      std::string kind = Str(Obj(&o), "kind");
      for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::printf("%s/%s\n", kind.c_str(), Str(Obj(At(Obj(&o), "metadata")), "name").c_str());
    }
    return 0;
  }
  if (!f.output.empty() && f.output != "wide") {
    std::fprintf(stderr, "error: unknown output format \"%s\" (yaml, json, name, wide, jsonpath=...)\n",
                 f.output.c_str());
    return 1;
  }
  if (items.empty()) {
    if (!quiet_when_empty) {
      std::fprintf(stderr, "No resources found in %s namespace.\n", f.all ? "any" : f.ns.c_str());
    }
    return 0;
  }
  const bool wide = f.output == "wide";
  std::string kind = Str(Obj(&object_at(0)), "kind");
  if (revisions) {
    PrintRevisions(items, f.all);
  } else if (kind == "Function") {
    PrintFunctions(items, f.all, wide);
  } else if (kind == "HTTPRoute") {
    PrintHttpRoutes(items);
  } else {
    PrintGeneric(items);
  }
  return 0;
}

// The sequence number of the platform's latest change (-w starts after it).
Result<int64_t> LatestChange(const Conn& conn) {
  HttpRequest req;
  req.target = "/v1/watch?timeout=0";
  auto r = Call(conn, std::move(req));
  if (!r.ok()) return r.status();
  if (r->status != 200) return Status(StatusCode::kUnavailable, r->body);
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  const json::value* next = ec ? nullptr : At(Obj(&v), "next");
  return next && next->is_int64() ? next->as_int64() : 0;
}

// -w: after the table, one row per change as it happens, until interrupted.
int WatchChanges(const Conn& conn, const GetFlags& f, int64_t since) {
  const std::string kind = f.args[0];
  for (;;) {
    HttpRequest req;
    req.target = "/v1/watch?kind=" + kind + "&namespace=" + (f.all ? std::string("all") : f.ns) +
                 "&since=" + std::to_string(since) + "&timeout=5000";
    auto r = Call(conn, std::move(req));
    if (!r.ok()) return Fail("get", r);
    if (r->status == 429) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (r->status != 200) return Fail("get", r);
    json::value v = json::parse(r->body);
    const json::object* o = Obj(&v);
    if (const json::value* missed = At(o, "missed"); missed && missed->is_int64() && missed->as_int64() > 0) {
      std::fprintf(stderr, "ofn get -w: %lld change(s) were missed\n", static_cast<long long>(missed->as_int64()));
    }
    if (const json::array* events = Arr(At(o, "events"))) {
      for (const json::value& e : *events) {
        const json::object* obj = Obj(At(Obj(&e), "object"));
        if (f.args.size() == 2 && Str(Obj(At(obj, "metadata")), "name") != f.args[1]) continue;
        const json::object* meta = Obj(At(obj, "metadata"));
        std::vector<std::vector<std::string>> rows;
        if (Str(obj, "kind") == "Function") {
          const json::object* st = Obj(At(obj, "status"));
          rows.push_back({Str(Obj(&e), "type"), Str(meta, "namespace") + "/" + Str(meta, "name"),
                          Str(Obj(At(st, "serving")), "state"), Str(Obj(At(st, "serving")), "resourceRef"),
                          Address(st, "External")});
        } else {
          rows.push_back({Str(Obj(&e), "type"), Str(obj, "kind"), Str(meta, "namespace") + "/" + Str(meta, "name")});
        }
        PrintTable(rows);
        std::fflush(stdout);
      }
    }
    if (const json::value* next = At(o, "next"); next && next->is_int64()) since = next->as_int64();
  }
}

int RunGet(const Conn& conn, const GetFlags& f) {
  if (f.watch) {
    if (f.args[0] == "all" || f.args[0].rfind("rev", 0) == 0) {
      std::fprintf(stderr, "error: -w takes a kind of object (functions, httproutes, ...), not %s\n", f.args[0].c_str());
      return 1;
    }
    Result<int64_t> since = LatestChange(conn);
    if (!since.ok()) {
      std::fprintf(stderr, "ofn get: %s\n", since.status().message().c_str());
      return 1;
    }
    int rc = GetOne(conn, f, f.args[0], false);
    if (rc != 0) return rc;
    std::fflush(stdout);
    return WatchChanges(conn, f, *since);
  }
  if (f.args[0] != "all") return GetOne(conn, f, f.args[0], false);
  // kubectl's `get all`: every kind that serves, one table each.
  int rc = 0;
  bool first = true;
  for (const char* res : {"functions", "revisions", "httproutes"}) {
    if (!first) std::printf("\n");
    first = false;
    rc |= GetOne(conn, f, res, true);
  }
  return rc;
}

}  // namespace

void AddRemoteCommands(CLI::App& app) {
  {
    auto conn = std::make_shared<Conn>();
    auto files = std::make_shared<std::vector<std::string>>();
    auto recursive = std::make_shared<bool>(false);
    auto wait = std::make_shared<bool>(false);
    auto wait_timeout = std::make_shared<int>(60);
    auto* cmd = app.add_subcommand("apply", "Create or update objects in a running `ofn serve`");
    cmd->add_option("-f,--filename", *files, "manifest files, directories, or - for stdin")->required();
    cmd->add_flag("-R,--recursive", *recursive, "with -f DIR: the files below it too");
    cmd->add_flag("--wait", *wait, "return when every Function applied serves, or fail with why it cannot");
    cmd->add_option("--timeout", *wait_timeout, "seconds --wait waits")->capture_default_str();
    AddConnFlags(cmd, conn.get());
    cmd->callback([conn, files, recursive, wait, wait_timeout] {
      std::vector<std::pair<std::string, std::string>> functions;  // (ns, name) for --wait
      auto texts = ReadManifests(*files, *recursive);
      if (!texts.ok()) {
        std::fprintf(stderr, "error: %s\n", texts.status().message().c_str());
        ExitCode() = 1;
        return;
      }
      for (const ManifestText& m : *texts) {
        HttpRequest req;
        req.method = "POST";
        req.target = "/v1/apply";
        req.headers.Set("X-Ofn-File", m.name);
        if (!m.dir.empty()) req.headers.Set("X-Ofn-Base-Dir", m.dir);
        req.headers.Set("Content-Type", "application/yaml");
        req.body = m.text;
        auto r = Call(*conn, std::move(req));
        if (!r.ok() || r->status != 200) {
          ExitCode() = Fail("apply", r);
          return;
        }
        json::value v = json::parse(r->body);
        for (const json::value& o : v.as_object().at("objects").as_array()) {
          const json::object* oo = Obj(&o);
          if (Str(oo, "kind") == "Function") functions.emplace_back(Str(oo, "namespace"), Str(oo, "name"));
          const json::value* same = At(oo, "unchanged");
          if (same && same->is_bool() && same->as_bool()) {
            std::printf("%s %s/%s unchanged\n", Str(oo, "kind").c_str(), Str(oo, "namespace").c_str(),
                        Str(oo, "name").c_str());
          } else {
            std::printf("%s %s/%s applied (generation %s)\n", Str(oo, "kind").c_str(), Str(oo, "namespace").c_str(),
                        Str(oo, "name").c_str(), json::serialize(*At(oo, "generation")).c_str());
          }
        }
      }
      if (!*wait) return;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*wait_timeout);
      for (const auto& [fns, fname] : functions) {
        std::string progress;  // the last build step printed
        for (;;) {
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
          // Waits in slices of a second, printing a line per build step between them.
          const int64_t slice = std::min<int64_t>(std::max<int64_t>(0, left.count()), 1000);
          HttpRequest req;
          req.target = "/v1/wait/" + fns + "/" + fname + "?timeout=" + std::to_string(slice);
          auto r = Call(*conn, std::move(req));
          if (r.ok() && r->status == 429 && left.count() > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
          }
          if (r.ok() && r->status == 504 && left.count() > slice) {
            PrintBuildProgress(*conn, fns, fname, &progress);
            continue;
          }
          if (r.ok()) PrintBuildProgress(*conn, fns, fname, &progress);
          if (!r.ok() || r->status != 200) {
            ExitCode() = Fail("apply --wait", r);
            return;
          }
          std::printf("Function %s/%s ready\n", fns.c_str(), fname.c_str());
          break;
        }
      }
    });
  }
  {
    auto conn = std::make_shared<Conn>();
    auto flags = std::make_shared<GetFlags>();
    auto* cmd = app.add_subcommand(
        "get", "Show objects: ofn get functions | ofn get function NAME -o yaml | ofn get revisions [FUNCTION] | "
               "ofn get all");
    cmd->add_option("resource", flags->args, "RESOURCE [NAME]")->required()->expected(1, 2);
    cmd->add_option("-n,--namespace", flags->ns, "namespace")->capture_default_str();
    cmd->add_flag("-A,--all-namespaces", flags->all, "every namespace");
    cmd->add_option("-o,--output", flags->output,
                    "yaml, json, name, wide, or jsonpath=TEMPLATE (e.g. '{.items[*].metadata.name}')");
    cmd->add_option("-l,--selector", flags->selector, "labels: key=value, key!=value, key, !key (comma-separated)");
    cmd->add_flag("-w,--watch", flags->watch, "after the list, print each change as it happens (Ctrl-C stops)");
    AddConnFlags(cmd, conn.get());
    cmd->callback([conn, flags] { ExitCode() = RunGet(*conn, *flags); });
  }
  {
    auto conn = std::make_shared<Conn>();
    auto args = std::make_shared<std::vector<std::string>>();
    auto ns = std::make_shared<std::string>("default");
    auto* cmd = app.add_subcommand("describe", "Show one object in detail: ofn describe function NAME");
    cmd->add_option("resource", *args, "RESOURCE NAME")->required()->expected(2);
    cmd->add_option("-n,--namespace", *ns, "namespace")->capture_default_str();
    AddConnFlags(cmd, conn.get());
    cmd->callback([=] {
      const std::string& res = (*args)[0];
      if (res == "revision" || res == "revisions" || res == "rev") {
        ExitCode() = DescribeRevision(*conn, *ns, (*args)[1]);
        return;
      }
      if (res == "build" || res == "builds") {
        ExitCode() = DescribeBuild(*conn, *ns, (*args)[1]);
        return;
      }
      HttpRequest req;
      req.target = "/v1/" + res + "/" + *ns + "/" + (*args)[1];
      auto r = Call(*conn, std::move(req));
      if (!r.ok() || r->status != 200) {
        ExitCode() = Fail("describe", r);
        return;
      }
      json::value v = json::parse(r->body);
      Describe(Obj(&v));
      if (Str(Obj(&v), "kind") == "Function") {
        if (At(Obj(At(Obj(&v), "spec")), "build") ||
            At(Obj(At(Obj(At(Obj(&v), "metadata")), "annotations")), "openfunction.io/revision-controller")) {
          PrintFunctionBuilds(*conn, *ns, (*args)[1]);
        }
        PrintRecentChanges(*conn, *ns, (*args)[1]);
        // Its revisions, their traffic and instances, as a table.
        HttpRequest revs;
        revs.target = "/v1/revisions/" + *ns + "/" + (*args)[1];
        auto rr = Call(*conn, std::move(revs));
        boost::system::error_code ec;
        json::value list = rr.ok() && rr->status == 200 ? json::parse(rr->body, ec) : json::value();
        const json::array* items = ec ? nullptr : Arr(At(Obj(&list), "items"));
        if (items && !items->empty()) {
          std::printf("Revisions:\n");
          std::vector<std::vector<std::string>> rows{{"  NAME", "READY", "TRAFFIC", "TAGS", "INSTANCES", "COLDSTARTS",
                                                      "RESTARTS", "REASON"}};
          for (const json::value& item : *items) {
            const json::object* o = Obj(&item);
            const json::object* meta = Obj(At(Obj(At(o, "object")), "metadata"));
            std::string tags;
            if (const json::array* t = Arr(At(o, "tags"))) {
              for (const json::value& tag : *t) tags += (tags.empty() ? "" : ",") + std::string(tag.as_string());
            }
            const json::value* ready = At(o, "ready");
            const json::object* cond = nullptr;
            if (const json::array* conds = Arr(At(Obj(At(Obj(At(o, "object")), "status")), "conditions"))) {
              for (const json::value& c : *conds) {
                if (Str(Obj(&c), "type") == "Ready") cond = Obj(&c);
              }
            }
            rows.push_back({"  " + Str(meta, "name"), ready && ready->is_bool() && ready->as_bool() ? "True" : "False",
                            Fixed(At(o, "percent"), 0) + "%", tags.empty() ? "-" : tags,
                            Fixed(At(o, "readyInstances"), 0) + "/" + Fixed(At(o, "desiredInstances"), 0),
                            Fixed(At(o, "coldStarts"), 0), Fixed(At(o, "restarts"), 0),
                            Str(cond, "reason").empty() ? "-" : Str(cond, "reason")});
          }
          PrintTable(rows);
        }
      }
    });
  }
  {
    auto conn = std::make_shared<Conn>();
    auto args = std::make_shared<std::vector<std::string>>();
    auto ns = std::make_shared<std::string>("default");
    auto files = std::make_shared<std::vector<std::string>>();
    auto ignore_missing = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "delete", "Delete objects: ofn delete function NAME [NAME...] | ofn delete function/NAME | ofn delete -f FILE");
    cmd->add_option("resource", *args, "RESOURCE NAME... or RESOURCE/NAME...");
    cmd->add_option("-n,--namespace", *ns, "namespace")->capture_default_str();
    cmd->add_option("-f,--filename", *files, "delete the objects these manifests describe (files, dirs, -)");
    cmd->add_flag("--ignore-not-found", *ignore_missing, "an object that does not exist is not an error");
    AddConnFlags(cmd, conn.get());
    cmd->callback([=] {
      // (resource, namespace, name) to delete, from the arguments or the files.
      std::vector<std::array<std::string, 3>> targets;
      if (!files->empty()) {
        auto texts = ReadManifests(*files, false);
        if (!texts.ok()) {
          std::fprintf(stderr, "error: %s\n", texts.status().message().c_str());
          ExitCode() = 1;
          return;
        }
        for (const ManifestText& m : *texts) {
          spec::ParseOptions po;
          po.default_namespace = *ns;
          spec::ParseResult parsed = spec::ParseManifests(m.text, m.name, po);
          for (const spec::Object& o : parsed.objects) targets.push_back({o.kind(), o.ns(), o.name()});
          if (parsed.objects.empty() && !parsed.diagnostics.empty()) {
            std::fprintf(stderr, "error: %s\n", parsed.diagnostics.front().ToString().c_str());
            ExitCode() = 1;
            return;
          }
        }
      } else if (!args->empty() && (*args)[0].find('/') != std::string::npos) {
        for (const std::string& a : *args) {
          size_t slash = a.find('/');
          if (slash == std::string::npos) {
            std::fprintf(stderr, "error: there is no need to give a resource type with TYPE/NAME (got \"%s\")\n",
                         a.c_str());
            ExitCode() = 1;
            return;
          }
          targets.push_back({a.substr(0, slash), *ns, a.substr(slash + 1)});
        }
      } else if (args->size() >= 2) {
        for (size_t i = 1; i < args->size(); ++i) targets.push_back({(*args)[0], *ns, (*args)[i]});
      } else {
        std::fprintf(stderr, "error: give RESOURCE NAME..., RESOURCE/NAME... or -f FILE\n");
        ExitCode() = 1;
        return;
      }
      for (const auto& [resource, space, name] : targets) {
        HttpRequest req;
        req.method = "DELETE";
        req.target = "/v1/" + resource + "/" + space + "/" + name;
        auto r = Call(*conn, std::move(req));
        if (r.ok() && r->status == 404 && *ignore_missing) continue;
        if (!r.ok() || r->status != 200) {
          ExitCode() = Fail("delete", r);
          continue;
        }
        std::string lower = resource;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::printf("%s \"%s\" deleted\n", lower.c_str(), name.c_str());
      }
    });
  }
  {
    auto conn = std::make_shared<Conn>();
    auto names = std::make_shared<std::vector<std::string>>();
    auto ns = std::make_shared<std::string>("default");
    auto* cmd = app.add_subcommand("restart", "Replace every instance of functions now (picks up a changed program)");
    cmd->add_option("name", *names, "function names")->required();
    cmd->add_option("-n,--namespace", *ns, "namespace")->capture_default_str();
    AddConnFlags(cmd, conn.get());
    cmd->callback([=] { PostEach(*conn, *ns, *names, "restart", "function \"%s\" restarted\n"); });
  }
  {
    auto conn = std::make_shared<Conn>();
    auto name = std::make_shared<std::string>();
    auto ns = std::make_shared<std::string>("default");
    auto path = std::make_shared<std::string>();
    auto method = std::make_shared<std::string>();
    auto data = std::make_shared<std::string>();
    auto headers = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand("invoke", "Call a function through the gateway's path and print its answer");
    cmd->add_option("name", *name, "function name")->required();
    cmd->add_option("-n,--namespace", *ns, "namespace")->capture_default_str();
    cmd->add_option("-p,--path", *path, "request path and query (default: the path of the function's address)");
    cmd->add_option("-X,--request", *method, "method (default GET, or POST with -d)");
    cmd->add_option("-d,--data", *data, "request body");
    cmd->add_option("-H,--header", *headers, "'Name: value'");
    AddConnFlags(cmd, conn.get());
    cmd->callback([=] {
      HttpRequest req;
      req.method = !method->empty() ? *method : data->empty() ? "GET" : "POST";
      std::string p = *path;
      if (p.empty()) {
        // A path-routed Function answers under its path (/default/hello-path/), not at "/".
        p = "/";
        HttpRequest get;
        get.target = "/v1/function/" + *ns + "/" + *name;
        if (auto fn = Call(*conn, std::move(get)); fn.ok() && fn->status == 200) {
          boost::system::error_code ec;
          json::value v = json::parse(fn->body, ec);
          std::string internal = ec ? "" : Address(Obj(At(Obj(&v), "status")), "Internal");
          if (size_t slash = internal.find('/', internal.find("://") + 3); slash != std::string::npos) {
            p = internal.substr(slash);
          }
        }
      }
      if (p[0] != '/') p = "/" + p;
      req.target = "/v1/invoke/" + *ns + "/" + *name + p;
      for (const std::string& h : *headers) {
        size_t colon = h.find(':');
        if (colon == std::string::npos) continue;
        std::string value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        req.headers.Add(h.substr(0, colon), value);
      }
      req.body = *data;
      auto r = Call(*conn, std::move(req));
      if (!r.ok()) {
        ExitCode() = Fail("invoke", r);
        return;
      }
      std::fwrite(r->body.data(), 1, r->body.size(), stdout);
      if (r->status >= 400) {
        std::fprintf(stderr, "ofn invoke: HTTP %d\n", r->status);
        ExitCode() = 1;
      }
    });
  }
}

}  // namespace ofn::cli
