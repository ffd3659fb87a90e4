#include "libofn/platform/internal/admin.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <utility>
#include <vector>

#include "libofn/common/json_text.h"
#include "libofn/gateway/server.h"
#include "libofn/platform/internal/objects.h"
#include "libofn/route/table.h"

namespace ofn::platform::internal {

namespace {

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty()) out.push_back(route::DecodeQueryComponent(part));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == name) return eq == std::string_view::npos ? "" : route::DecodeQueryComponent(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kConflict: return 409;
    case StatusCode::kFailedPrecondition: return 412;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

HttpResponse FromStatus(const Status& s) { return gateway::ErrorResponse(HttpStatusFor(s), s.message()); }

std::string Summary(const ObjectInfo& o) {
  return "{\"kind\":" + JsonQuote(o.kind) + ",\"namespace\":" + JsonQuote(o.ns) + ",\"name\":" + JsonQuote(o.name) +
         ",\"generation\":" + std::to_string(o.generation) + (o.unchanged ? ",\"unchanged\":true" : "") + "}";
}

// One of the two admin threads a kind of long call (watch, wait) may hold at
// once, so that they never take all of the admin API's threads.
class WaitSlot {
 public:
  explicit WaitSlot(std::atomic<int>& in_use) : in_use_(in_use), taken_(in_use.fetch_add(1) < 2) {
    if (!taken_) in_use_.fetch_sub(1);
  }
  ~WaitSlot() {
    if (taken_) in_use_.fetch_sub(1);
  }
  WaitSlot(const WaitSlot&) = delete;
  WaitSlot& operator=(const WaitSlot&) = delete;
  bool taken() const { return taken_; }
  static HttpResponse Busy(const std::string& what) {
    HttpResponse busy = gateway::ErrorResponse(429, "two " + what + " are waiting already; try again");
    busy.headers.Set("Retry-After", "1");
    return busy;
  }

 private:
  std::atomic<int>& in_use_;
  const bool taken_;
};

}  // namespace

HttpResponse HandleAdmin(Platform& platform, HttpRequest& request) {
  std::vector<std::string> seg = Segments(request.path());
  const std::string& m = request.method;
  if (seg.size() == 1 && seg[0] == "healthz") return HttpResponse::Text(200, "ok\n");
  if (seg.size() == 1 && seg[0] == "metrics") {
    HttpResponse r = HttpResponse::Text(200, platform.Metrics());
    r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return r;
  }
  if (seg.empty() || seg[0] != "v1") return gateway::ErrorResponse(404, "unknown admin path " + std::string(request.path()));
  if (seg.size() == 2 && seg[1] == "apply") {
    if (m != "POST") return gateway::ErrorResponse(405, "apply takes POST");
    // X-Ofn-Base-Dir: where the CLI read the file (an absolute path).
    std::string base_dir = request.headers.GetOr("X-Ofn-Base-Dir", "");
    if (!base_dir.empty() && base_dir.front() != '/') {
      return gateway::ErrorResponse(400, "X-Ofn-Base-Dir \"" + base_dir + "\" is not an absolute path");
    }
    auto applied = platform.Apply(request.body, request.headers.GetOr("X-Ofn-File", "<apply>"), nullptr, base_dir);
    if (!applied.ok()) return FromStatus(applied.status());
    std::string body = "{\"objects\":[";
    for (size_t i = 0; i < applied->size(); ++i) body += (i ? "," : "") + Summary((*applied)[i]);
    return HttpResponse::Json(200, body + "]}\n");
  }
  if (seg.size() >= 4 && seg[1] == "invoke") {
    HttpRequest inner;
    inner.method = m;
    inner.headers = request.headers;
    inner.body = std::move(request.body);
    std::string path;
    for (size_t i = 4; i < seg.size(); ++i) path += "/" + seg[i];
    if (path.empty() || request.path().back() == '/') path += "/";
    inner.target = path + (request.query().empty() ? "" : "?" + std::string(request.query()));
    inner.headers.Remove("Authorization");
    return platform.Invoke(seg[3], std::move(inner), seg[2]);
  }
  if (seg.size() < 2) return gateway::ErrorResponse(404, "unknown admin path");
  if (seg[1] == "watch" && seg.size() == 2) {
    // GET /v1/watch?kind=Function&namespace=NS|all&since=SEQ&timeout=MS: a long poll
    // for the changes after SEQ. At most two at a time hold an admin thread.
    if (m != "GET") return gateway::ErrorResponse(405, "watch takes GET");
    static std::atomic<int> active{0};
    WaitSlot slot(active);
    if (!slot.taken()) return slot.Busy("watches");
    std::string kind = internal::KindFromResource(QueryParam(request.query(), "kind"));
    std::string ns = QueryParam(request.query(), "namespace");
    std::string since_text = QueryParam(request.query(), "since");
    int64_t since = since_text.empty() ? -1 : std::atoll(since_text.c_str());
    int64_t timeout = std::clamp<int64_t>(std::atoll(QueryParam(request.query(), "timeout").c_str()), 0, 10000);
    Platform::Changes got = platform.ChangesSince(since, kind, std::chrono::milliseconds(timeout));
    std::string body = "{\"next\":" + std::to_string(got.next) + ",\"missed\":" + std::to_string(got.missed) +
                       ",\"events\":[";
    bool first = true;
    for (const Platform::Change& c : got.changes) {
      if (!ns.empty() && ns != "all" && c.object.ns != ns) continue;
      body += std::string(first ? "" : ",") + "{\"seq\":" + std::to_string(c.seq) + ",\"type\":\"" +
              std::string(WatchEventTypeName(c.type)) + "\",\"time\":" + JsonQuote(c.time) +
              ",\"object\":" + c.object.json + "}";
      first = false;
    }
    return HttpResponse::Json(200, body + "]}\n");
  }
  if (seg[1] == "wait" && seg.size() == 4) {
    // GET /v1/wait/NS/NAME?timeout=MS: until the Function serves or cannot
    // (Platform::WaitReady); at most two waiting at once.
    if (m != "GET") return gateway::ErrorResponse(405, "wait takes GET");
    static std::atomic<int> waiting{0};
    WaitSlot slot(waiting);
    if (!slot.taken()) return slot.Busy("waits");
    int64_t timeout = std::clamp<int64_t>(std::atoll(QueryParam(request.query(), "timeout").c_str()), 0, 30000);
    auto info = platform.WaitReady(seg[3], std::chrono::milliseconds(timeout), seg[2]);
    if (!info.ok()) return FromStatus(info.status());
    return HttpResponse::Json(200, info->json);
  }
  if (seg[1] == "restart" && seg.size() == 4) {
    // POST /v1/restart/NS/NAME
    if (m != "POST") return gateway::ErrorResponse(405, "restart takes POST");
    Status s = platform.Restart(seg[3], seg[2]);
    if (!s.ok()) return FromStatus(s);
    return HttpResponse::Json(200, "{\"restarted\":" + JsonQuote(seg[2] + "/" + seg[3]) + "}\n");
  }
  if (seg[1] == "logs" && seg.size() == 4) {
    // GET /v1/logs/NS/NAME?revision=R&tail=N
    if (m != "GET") return gateway::ErrorResponse(405, "logs take GET");
    std::string tail = QueryParam(request.query(), "tail");
    size_t lines = 0;
    if (!tail.empty()) {
      char* end = nullptr;
      unsigned long long n = std::strtoull(tail.c_str(), &end, 10);
      if (*end != '\0' || tail[0] == '-') return gateway::ErrorResponse(400, "tail: not a line count: " + tail);
      lines = static_cast<size_t>(n);
    }
    auto logs = platform.Logs(seg[3], QueryParam(request.query(), "revision"), lines, seg[2]);
    if (!logs.ok()) return FromStatus(logs.status());
    HttpResponse r = HttpResponse::Text(200, std::move(logs->text));
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    r.headers.Set("X-Ofn-Revision", logs->revision);
    return r;
  }
  if (seg[1] == "builds" && (seg.size() == 2 || seg.size() == 4)) {
    // GET /v1/builds?namespace=NS|all[&function=F], /v1/builds/NS/FUNCTION
    if (m != "GET") return gateway::ErrorResponse(405, "builds take GET");
    std::string ns = seg.size() == 4 ? seg[2] : std::string(QueryParam(request.query(), "namespace"));
    if (ns == "all") ns = "*";
    std::string fn = seg.size() == 4 ? seg[3] : std::string(QueryParam(request.query(), "function"));
    auto builds = platform.Builds(fn, ns);
    if (!builds.ok()) return FromStatus(builds.status());
    std::string body = "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[";
    for (size_t i = 0; i < builds->size(); ++i) {
      const BuildInfo& b = (*builds)[i];
      body += std::string(i ? "," : "") + "{\"name\":" + JsonQuote(b.name) + ",\"namespace\":" + JsonQuote(b.ns) +
              ",\"function\":" + JsonQuote(b.function) + ",\"state\":" + JsonQuote(b.state) +
              ",\"reason\":" + JsonQuote(b.reason) + ",\"message\":" + JsonQuote(b.message) +
              ",\"commit\":" + JsonQuote(b.commit) + ",\"strategy\":" + JsonQuote(b.strategy) +
              ",\"url\":" + JsonQuote(b.url) + ",\"revision\":" + JsonQuote(b.revision) +
              ",\"sourceSubPath\":" + JsonQuote(b.sub_path) + ",\"artifact\":" + JsonQuote(b.artifact) +
              ",\"cachedFrom\":" + JsonQuote(b.cached_from) + ",\"trigger\":" + JsonQuote(b.trigger) +
              ",\"started\":" + std::to_string(b.started) + ",\"finished\":" + std::to_string(b.finished) +
              ",\"durationMs\":" + std::to_string(b.duration_ms) + "}";
    }
    body += "]";
    if (seg.size() == 4) {
      if (auto rc = platform.RevisionController(fn, seg[2]); rc.ok() && (rc->enabled || !rc->error.empty())) {
        body += ",\"revisionController\":{\"enabled\":" + std::string(rc->enabled ? "true" : "false") +
                ",\"intervalSeconds\":" + std::to_string(rc->interval.count() / 1000) +
                ",\"polls\":" + std::to_string(rc->polls) + ",\"failures\":" + std::to_string(rc->failures) +
                ",\"lastCommit\":" + JsonQuote(rc->last_commit) + ",\"lastPoll\":" + JsonQuote(rc->last_poll) +
                ",\"nextPoll\":" + JsonQuote(rc->next_poll) + ",\"error\":" + JsonQuote(rc->error) + "}";
      }
    }
    return HttpResponse::Json(200, body + "}\n");
  }
  if (seg[1] == "buildlogs" && seg.size() == 4) {
    // GET /v1/buildlogs/NS/FUNCTION?build=NAME (default: the newest build)
    if (m != "GET") return gateway::ErrorResponse(405, "build logs take GET");
    auto log = platform.BuildLog(seg[3], QueryParam(request.query(), "build"), seg[2]);
    if (!log.ok()) return FromStatus(log.status());
    HttpResponse r = HttpResponse::Text(200, std::move(*log));
    r.headers.Set("Content-Type", "text/plain; charset=utf-8");
    return r;
  }
  if (seg[1] == "rebuild" && seg.size() == 4) {
    // POST /v1/rebuild/NS/FUNCTION
    if (m != "POST") return gateway::ErrorResponse(405, "rebuild takes POST");
    Status s = platform.Rebuild(seg[3], seg[2]);
    if (!s.ok()) return FromStatus(s);
    return HttpResponse::Json(200, "{\"rebuilding\":" + JsonQuote(seg[2] + "/" + seg[3]) + "}\n");
  }
  if (seg[1] == "revisions" && (seg.size() == 2 || seg.size() == 4)) {
    if (m != "GET") return gateway::ErrorResponse(405, "revisions take GET");
    std::string ns = seg.size() == 4 ? seg[2] : std::string(QueryParam(request.query(), "namespace"));
    if (ns == "all") ns = "*";
    std::string fn = seg.size() == 4 ? seg[3] : std::string(QueryParam(request.query(), "function"));
    auto revs = platform.Revisions(fn, ns);
    if (!revs.ok()) return FromStatus(revs.status());
    std::string body = "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[";
    for (size_t i = 0; i < revs->size(); ++i) {
      const RevisionInfo& r = (*revs)[i];
      std::string tags;
      for (const std::string& t : r.tags) tags += (tags.empty() ? "" : ",") + JsonQuote(t);
      std::string keda;
      if (r.keda) {
        std::string triggers;
        for (const RevisionInfo::KedaTrigger& t : r.keda_triggers) {
          triggers += (triggers.empty() ? "" : ",") + std::string("{\"name\":") + JsonQuote(t.name) +
                      ",\"type\":" + JsonQuote(t.type) + ",\"value\":" + std::to_string(t.value) +
                      ",\"error\":" + JsonQuote(t.error) + "}";
        }
        std::string jobs;
        if (r.jobs) {
          jobs = ",\"jobs\":{\"running\":" + std::to_string(r.jobs_running) + ",\"succeeded\":" +
                 std::to_string(r.jobs_succeeded) + ",\"failed\":" + std::to_string(r.jobs_failed) + "}";
        }
        keda = ",\"keda\":{\"active\":" + std::string(r.keda_active ? "true" : "false") +
               ",\"reason\":" + JsonQuote(r.keda_reason) + ",\"triggers\":[" + triggers + "]" + jobs + "}";
      }
      // The object is a Knative Revision; the live figures ride beside it.
      body += (i ? "," : "") + std::string("{\"object\":") + r.json + ",\"percent\":" + std::to_string(r.percent) +
              ",\"tags\":[" + tags + "],\"ready\":" + (r.ready ? "true" : "false") +
              ",\"readyInstances\":" + std::to_string(r.ready_instances) +
              ",\"desiredInstances\":" + std::to_string(r.desired_instances) +
              ",\"panic\":" + (r.panicking ? "true" : "false") + ",\"concurrency\":" + std::to_string(r.concurrency) +
              ",\"rps\":" + std::to_string(r.rps) + ",\"queued\":" + std::to_string(r.queued) +
              ",\"coldStarts\":" + std::to_string(r.cold_starts) + ",\"restarts\":" + std::to_string(r.restarts) +
              ",\"recovered\":" + std::to_string(r.recovered) + keda + "}";
    }
    return HttpResponse::Json(200, body + "]}\n");
  }
  std::string kind = KindFromResource(seg[1]);
  if (kind.empty()) return gateway::ErrorResponse(404, "unknown resource \"" + seg[1] + "\"");
  if (seg.size() == 2) {
    if (m != "GET") return gateway::ErrorResponse(405, "lists take GET");
    std::string ns = QueryParam(request.query(), "namespace");
    if (ns.empty()) ns = "default";
    if (ns == "all" || kind == "ClusterEventBus") ns.clear();
    if (kind == "Function" && QueryParam(request.query(), "view") == "table") {
      // What `ofn get functions` shows, summed up on this side (as a
      // Kubernetes API server prints a Table): no object text.
      auto fns = platform.ListFunctions(ns);
      if (!fns.ok()) return FromStatus(fns.status());
      std::string body;
      body.reserve(64 + fns->size() * 320);
      body += "{\"kind\":\"FunctionTable\",\"rows\":[";
      for (size_t i = 0; i < fns->size(); ++i) {
        const FunctionInfo& f = (*fns)[i];
        if (i) body += ',';
        auto field = [&](const char* key, std::string_view value) {
          body += ",\"";
          body += key;
          body += "\":";
          AppendJsonQuoted(&body, value);
        };
        body += "{\"name\":";
        AppendJsonQuoted(&body, f.name);
        field("namespace", f.ns);
        field("created", f.created);
        field("buildState", f.build_state);
        field("build", f.build_resource);
        field("servingState", f.serving_state);
        field("serving", f.latest_created_revision);
        field("ready", f.latest_ready_revision);
        field("reason", f.serving_reason);
        field("external", f.Address("External"));
        field("internal", f.Address("Internal"));
        field("route", f.route_status);
        field("routeReason", f.route_reason);
        body += ",\"labels\":{";
        bool first = true;
        for (const auto& [k, v] : f.labels) {
          if (!std::exchange(first, false)) body += ',';
          AppendJsonQuoted(&body, k);
          body += ':';
          AppendJsonQuoted(&body, v);
        }
        body += "}}";
      }
      body += "]}\n";
      return HttpResponse::Json(200, std::move(body));
    }
    auto list = platform.List(kind, ns);
    if (!list.ok()) return FromStatus(list.status());
    size_t size = 16;
    for (const ObjectInfo& o : *list) size += o.json.size() + 1;
    std::string body;
    body.reserve(size);
    body += "{\"items\":[";
    for (size_t i = 0; i < list->size(); ++i) {
      if (i) body += ',';
      body += (*list)[i].json;
    }
    body += "]}\n";
    return HttpResponse::Json(200, std::move(body));
  }
  if (seg.size() == 4) {
    if (m == "GET") {
      auto o = platform.Get(kind, seg[2], seg[3]);
      if (!o.ok()) return FromStatus(o.status());
      return HttpResponse::Json(200, o->json + "\n");
    }
    if (m == "DELETE") {
      Status s = platform.Delete(kind, seg[2], seg[3]);
      if (!s.ok()) return FromStatus(s);
      return HttpResponse::Json(200, "{\"deleted\":{\"kind\":" + JsonQuote(kind) + ",\"namespace\":" + JsonQuote(seg[2]) +
                                         ",\"name\":" + JsonQuote(seg[3]) + "}}\n");
    }
    return gateway::ErrorResponse(405, "objects take GET or DELETE");
  }
  return gateway::ErrorResponse(404, "unknown admin path " + std::string(request.path()));
}

}  // namespace ofn::platform::internal
