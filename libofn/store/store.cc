#include "libofn/store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/json.hpp>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>

#include "libofn/store/internal/migrations.h"
#include "libofn/store/internal/sqlite.h"

namespace ofn::store {

namespace json = boost::json;
using internal::Exec;
using internal::SqliteError;
using internal::Statement;

std::string_view EventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
  }
  return "UNKNOWN";
}

namespace {

constexpr std::string_view kObjectColumns =
    "kind, namespace, name, api_version, uid, generation, resource_version, spec, status, labels, "
    "annotations, finalizers, creation_time, deletion_time";
// The same, with every spec read as "{}" (SQLite skips the column's bytes).
constexpr std::string_view kObjectColumnsWithoutSpec =
    "kind, namespace, name, api_version, uid, generation, resource_version, '{}', status, labels, "
    "annotations, finalizers, creation_time, deletion_time";

std::string MapToJson(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return json::serialize(o);
}

std::map<std::string, std::string> MapFromJson(std::string_view text) {
  std::map<std::string, std::string> out;
  if (text == "{}") return out;  // most objects: no parse
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec && v.is_object()) {
    for (const auto& kv : v.as_object()) {
      if (kv.value().is_string()) out[std::string(kv.key())] = std::string(kv.value().as_string());
    }
  }
  return out;
}

std::string ListToJson(const std::vector<std::string>& l) {
  json::array a;
  for (const auto& s : l) a.push_back(json::string(s));
  return json::serialize(a);
}

std::vector<std::string> ListFromJson(std::string_view text) {
  std::vector<std::string> out;
  if (text == "[]") return out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec && v.is_array()) {
    for (const auto& s : v.as_array()) {
      if (s.is_string()) out.emplace_back(s.as_string());
    }
  }
  return out;
}

Status CheckJson(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::parse(text, ec);
  if (ec) return InvalidArgumentError(std::string(what) + " is not valid JSON: " + ec.message());
  return Status();
}

bool SameJson(const std::string& a, const std::string& b) {
  if (a == b) return true;
  boost::system::error_code ea, eb;
  json::value va = json::parse(a, ea), vb = json::parse(b, eb);
  return !ea && !eb && va == vb;
}

// Reads a row of kObjectColumns into `r`, reusing the memory its strings
// already have.
void ReadRecordInto(const Statement& s, Record* r) {
  r->kind.assign(s.View(0));
  r->ns.assign(s.View(1));
  r->name.assign(s.View(2));
  r->api_version.assign(s.View(3));
  r->uid.assign(s.View(4));
  r->generation = s.Int(5);
  r->resource_version = s.Int(6);
  r->spec.assign(s.View(7));
  r->status.assign(s.View(8));
  r->labels = MapFromJson(s.View(9));
  r->annotations = MapFromJson(s.View(10));
  r->finalizers = ListFromJson(s.View(11));
  r->creation_time = s.Int(12);
  r->deletion_time = s.Int(13);
}

// The SELECT of `columns` of one kind's objects (?1), of one namespace (?2)
// unless `ns` is empty, in the order lists have.
std::string ObjectsQuery(std::string_view columns, std::string_view ns) {
  std::string sql = "SELECT " + std::string(columns) + " FROM objects WHERE kind = ?1";
  if (!ns.empty()) sql += " AND namespace = ?2";
  sql += " ORDER BY namespace, name";
  return sql;
}

Record ReadRecord(const Statement& s) {
  Record r;
  ReadRecordInto(s, &r);
  return r;
}

std::string Key(std::string_view kind, std::string_view ns, std::string_view name) {
  std::string out(kind);
  out += ' ';
  if (!ns.empty()) {
    out += ns;
    out += '/';
  }
  out += name;
  return out;
}

}  // namespace

struct Store::Impl {
  sqlite3* db = nullptr;
  Clock* clock = nullptr;
  std::mutex mu;  // guards db, rng, pending
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<WatchEvent> pending;  // events of the open transaction

  std::recursive_mutex watch_mu;  // guards watchers, queue, draining
  std::map<int64_t, std::pair<std::string, WatchFn>> watchers;
  int64_t next_watch_id = 1;
  std::deque<WatchEvent> queue;
  bool draining = false;

  ~Impl() {
    if (!db) return;
    internal::ForgetStatements(db);
    sqlite3_close_v2(db);
  }

  std::string NewUid() {
    uint64_t a = rng(), b = rng();
    // RFC 4122 version 4, variant 1.
    a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                  static_cast<unsigned long long>(a >> 32),
                  static_cast<unsigned long long>((a >> 16) & 0xffff),
                  static_cast<unsigned long long>(a & 0xffff),
                  static_cast<unsigned long long>(b >> 48),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
  }

  int64_t NowNanos() { return clock->Now().time_since_epoch().count(); }

  Result<int64_t> NextResourceVersion() {
    Statement s(db, "UPDATE meta SET value = value + 1 WHERE key = 'resource_version' RETURNING value");
    if (!s.Step()) return s.status().ok() ? InternalError("resource_version row missing") : s.status();
    return s.Int(0);
  }

  Result<Record> Read(std::string_view kind, std::string_view ns, std::string_view name) {
    Statement s(db, "SELECT " + std::string(kObjectColumns) +
                        " FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
    s.Bind(1, kind).Bind(2, ns).Bind(3, name);
    if (s.Step()) return ReadRecord(s);
    if (!s.status().ok()) return s.status();
    return NotFoundError(Key(kind, ns, name) + " not found");
  }

  Status Write(const Record& r) {
    Statement s(db, "INSERT OR REPLACE INTO objects (" + std::string(kObjectColumns) +
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
    s.Bind(1, r.kind).Bind(2, r.ns).Bind(3, r.name).Bind(4, r.api_version).Bind(5, r.uid);
    s.Bind(6, r.generation).Bind(7, r.resource_version).Bind(8, r.spec).Bind(9, r.status);
    s.Bind(10, MapToJson(r.labels)).Bind(11, MapToJson(r.annotations));
    s.Bind(12, ListToJson(r.finalizers)).Bind(13, r.creation_time).Bind(14, r.deletion_time);
    s.Step();
    return s.status();
  }

  void Deliver() {
    std::lock_guard<std::recursive_mutex> lock(watch_mu);
    if (draining) return;  // a callback wrote; the outer loop delivers it
    draining = true;
    while (!queue.empty()) {
      WatchEvent ev = std::move(queue.front());
      queue.pop_front();
      // Copy: a callback may Unwatch.
      std::vector<WatchFn> fns;
      for (const auto& [id, w] : watchers) {
        if (w.first.empty() || w.first == ev.record.kind) fns.push_back(w.second);
      }
      for (const WatchFn& fn : fns) fn(ev);
    }
    draining = false;
  }
};

// --- Transaction ---------------------------------------------------------------

Result<Record> Transaction::Get(std::string_view kind, std::string_view ns, std::string_view name) {
  return store_->impl_->Read(kind, ns, name);
}

Result<std::vector<Record>> Transaction::List(std::string_view kind, std::string_view ns) {
  Statement s(store_->impl_->db, ObjectsQuery(kObjectColumns, ns));
  s.Bind(1, kind);
  if (!ns.empty()) s.Bind(2, ns);
  std::vector<Record> out;
  while (s.Step()) out.push_back(ReadRecord(s));
  if (!s.status().ok()) return s.status();
  return out;
}

Result<Record> Transaction::Create(const Record& in) {
  Store::Impl& d = *store_->impl_;
  if (in.kind.empty() || in.name.empty()) return InvalidArgumentError("kind and name are required");
  OFN_RETURN_IF_ERROR(CheckJson(in.spec, "spec"));
  OFN_RETURN_IF_ERROR(CheckJson(in.status, "status"));
  auto existing = d.Read(in.kind, in.ns, in.name);
  if (existing.ok()) return AlreadyExistsError(Key(in.kind, in.ns, in.name) + " already exists");
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  OFN_ASSIGN_OR_RETURN(int64_t rv, d.NextResourceVersion());
  Record r = in;
  r.uid = d.NewUid();
  r.generation = 1;
  r.resource_version = rv;
  r.creation_time = d.NowNanos();
  r.deletion_time = 0;
  OFN_RETURN_IF_ERROR(d.Write(r));
  d.pending.push_back(WatchEvent{EventType::kAdded, r});
  return r;
}

Result<Record> Transaction::Update(const Record& in) {
  Store::Impl& d = *store_->impl_;
  OFN_RETURN_IF_ERROR(CheckJson(in.spec, "spec"));
  OFN_ASSIGN_OR_RETURN(Record r, d.Read(in.kind, in.ns, in.name));
  if (in.resource_version != 0 && in.resource_version != r.resource_version) {
    return ConflictError(Key(in.kind, in.ns, in.name) + ": resourceVersion " +
                         std::to_string(in.resource_version) + " is stale (current " +
                         std::to_string(r.resource_version) + ")");
  }
  bool spec_changed = !SameJson(r.spec, in.spec);
  if (!spec_changed && r.labels == in.labels && r.annotations == in.annotations &&
      r.finalizers == in.finalizers && r.api_version == in.api_version) {
    return r;  // nothing to write: no new resourceVersion, no event
  }
  OFN_ASSIGN_OR_RETURN(int64_t rv, d.NextResourceVersion());
  if (spec_changed) ++r.generation;
  r.api_version = in.api_version;
  r.spec = in.spec;
  r.labels = in.labels;
  r.annotations = in.annotations;
  r.finalizers = in.finalizers;
  r.resource_version = rv;
  if (r.deletion_time != 0 && r.finalizers.empty()) {
    Statement s(d.db, "DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
    s.Bind(1, r.kind).Bind(2, r.ns).Bind(3, r.name);
    s.Step();
    OFN_RETURN_IF_ERROR(s.status());
    d.pending.push_back(WatchEvent{EventType::kDeleted, r});
    return r;
  }
  OFN_RETURN_IF_ERROR(d.Write(r));
  d.pending.push_back(WatchEvent{EventType::kModified, r});
  return r;
}

Result<Record> Transaction::Apply(const Record& in) {
  auto existing = store_->impl_->Read(in.kind, in.ns, in.name);
  if (existing.ok()) return Update(in);
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  return Create(in);
}

Result<Record> Transaction::UpdateStatus(std::string_view kind, std::string_view ns,
                                         std::string_view name, std::string_view status_json,
                                         int64_t expected_rv) {
  Store::Impl& d = *store_->impl_;
  OFN_RETURN_IF_ERROR(CheckJson(status_json, "status"));
  OFN_ASSIGN_OR_RETURN(Record r, d.Read(kind, ns, name));
  if (expected_rv != 0 && expected_rv != r.resource_version) {
    return ConflictError(Key(kind, ns, name) + ": resourceVersion " + std::to_string(expected_rv) +
                         " is stale (current " + std::to_string(r.resource_version) + ")");
  }
  if (SameJson(r.status, std::string(status_json))) return r;
  OFN_ASSIGN_OR_RETURN(int64_t rv, d.NextResourceVersion());
  r.status = std::string(status_json);
  r.resource_version = rv;
  OFN_RETURN_IF_ERROR(d.Write(r));
  d.pending.push_back(WatchEvent{EventType::kModified, r});
  return r;
}

Status Transaction::Delete(std::string_view kind, std::string_view ns, std::string_view name,
                           int64_t expected_rv) {
  Store::Impl& d = *store_->impl_;
  OFN_ASSIGN_OR_RETURN(Record r, d.Read(kind, ns, name));
  if (expected_rv != 0 && expected_rv != r.resource_version) {
    return ConflictError(Key(kind, ns, name) + ": resourceVersion " + std::to_string(expected_rv) +
                         " is stale (current " + std::to_string(r.resource_version) + ")");
  }
  if (!r.finalizers.empty()) {
    if (r.deletion_time != 0) return Status();  // already being deleted
    OFN_ASSIGN_OR_RETURN(int64_t rv, d.NextResourceVersion());
    r.deletion_time = d.NowNanos();
    r.resource_version = rv;
    OFN_RETURN_IF_ERROR(d.Write(r));
    d.pending.push_back(WatchEvent{EventType::kModified, r});
    return Status();
  }
  OFN_ASSIGN_OR_RETURN(int64_t rv, d.NextResourceVersion());
  Statement s(d.db, "DELETE FROM objects WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
  s.Bind(1, kind).Bind(2, ns).Bind(3, name);
  s.Step();
  OFN_RETURN_IF_ERROR(s.status());
  r.resource_version = rv;
  d.pending.push_back(WatchEvent{EventType::kDeleted, r});
  return Status();
}

Status Transaction::PutRevision(const RevisionRecord& r) {
  OFN_RETURN_IF_ERROR(CheckJson(r.spec, "revision spec"));
  OFN_RETURN_IF_ERROR(CheckJson(r.status, "revision status"));
  Statement s(store_->impl_->db,
              "INSERT OR REPLACE INTO revisions (namespace, function, name, number, spec, spec_hash, "
              "status, creation_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  s.Bind(1, r.ns).Bind(2, r.function).Bind(3, r.name).Bind(4, r.number).Bind(5, r.spec);
  s.Bind(6, r.spec_hash).Bind(7, r.status).Bind(8, r.creation_time);
  s.Step();
  return s.status();
}

static RevisionRecord ReadRevision(const Statement& s) {
  RevisionRecord r;
  r.ns = s.Text(0);
  r.function = s.Text(1);
  r.name = s.Text(2);
  r.number = s.Int(3);
  r.spec = s.Text(4);
  r.spec_hash = s.Text(5);
  r.status = s.Text(6);
  r.creation_time = s.Int(7);
  return r;
}

constexpr std::string_view kRevisionColumns =
    "namespace, function, name, number, spec, spec_hash, status, creation_time";

Result<RevisionRecord> Transaction::GetRevision(std::string_view ns, std::string_view name) {
  Statement s(store_->impl_->db, "SELECT " + std::string(kRevisionColumns) +
                                     " FROM revisions WHERE namespace = ?1 AND name = ?2");
  s.Bind(1, ns).Bind(2, name);
  if (s.Step()) return ReadRevision(s);
  if (!s.status().ok()) return s.status();
  return NotFoundError("revision " + std::string(ns) + "/" + std::string(name) + " not found");
}

Result<std::vector<RevisionRecord>> Transaction::ListRevisions(std::string_view ns,
                                                               std::string_view function) {
  Statement s(store_->impl_->db, "SELECT " + std::string(kRevisionColumns) +
                                     " FROM revisions WHERE namespace = ?1 AND function = ?2 "
                                     "ORDER BY number");
  s.Bind(1, ns).Bind(2, function);
  std::vector<RevisionRecord> out;
  while (s.Step()) out.push_back(ReadRevision(s));
  if (!s.status().ok()) return s.status();
  return out;
}

Status Transaction::DeleteRevision(std::string_view ns, std::string_view name) {
  Statement s(store_->impl_->db, "DELETE FROM revisions WHERE namespace = ?1 AND name = ?2");
  s.Bind(1, ns).Bind(2, name);
  s.Step();
  return s.status();
}

Status Transaction::PutBuild(const BuildRecord& b) {
  OFN_RETURN_IF_ERROR(CheckJson(b.status, "build status"));
  Statement s(store_->impl_->db,
              "INSERT OR REPLACE INTO builds (namespace, function, name, state, source_hash, image, "
              "status, started, finished) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  s.Bind(1, b.ns).Bind(2, b.function).Bind(3, b.name).Bind(4, b.state).Bind(5, b.source_hash);
  s.Bind(6, b.image).Bind(7, b.status).Bind(8, b.started).Bind(9, b.finished);
  s.Step();
  return s.status();
}

Result<std::vector<BuildRecord>> Transaction::ListBuilds(std::string_view ns,
                                                         std::string_view function) {
  Statement s(store_->impl_->db,
              "SELECT namespace, function, name, state, source_hash, image, status, started, finished "
              "FROM builds WHERE (?1 = '' OR namespace = ?1) AND (?2 = '' OR function = ?2) "
              "ORDER BY started, name");
  s.Bind(1, ns).Bind(2, function);
  std::vector<BuildRecord> out;
  while (s.Step()) {
    BuildRecord b;
    b.ns = s.Text(0);
    b.function = s.Text(1);
    b.name = s.Text(2);
    b.state = s.Text(3);
    b.source_hash = s.Text(4);
    b.image = s.Text(5);
    b.status = s.Text(6);
    b.started = s.Int(7);
    b.finished = s.Int(8);
    out.push_back(std::move(b));
  }
  if (!s.status().ok()) return s.status();
  return out;
}

Status Transaction::DeleteBuild(std::string_view ns, std::string_view name) {
  Statement s(store_->impl_->db, "DELETE FROM builds WHERE namespace = ?1 AND name = ?2");
  s.Bind(1, ns).Bind(2, name);
  s.Step();
  return s.status();
}

Status Transaction::SetOffset(std::string_view source, std::string_view offset) {
  Statement s(store_->impl_->db,
              "INSERT OR REPLACE INTO event_offsets (source, \"offset\") VALUES (?1, ?2)");
  s.Bind(1, source).Bind(2, offset);
  s.Step();
  return s.status();
}

Result<std::string> Transaction::GetOffset(std::string_view source) {
  Statement s(store_->impl_->db, "SELECT \"offset\" FROM event_offsets WHERE source = ?1");
  s.Bind(1, source);
  if (s.Step()) return s.Text(0);
  if (!s.status().ok()) return s.status();
  return NotFoundError("no offset for " + std::string(source));
}

// --- Store -----------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

int Store::LatestSchemaVersion() { return static_cast<int>(internal::Migrations().size()); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->clock = options.clock ? options.clock : Clock::System();
  if (path != ":memory:" && !path.empty()) {
    // The store holds every Function's env: owner-only, whatever the
    // directory or the umask says. SQLite gives its -wal and -shm files the
    // database file's mode; older ones are tightened too.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return UnavailableError("cannot open store " + path + ": " + std::strerror(errno));
    int mode_rc = ::fchmod(fd, 0600);
    ::close(fd);
    if (mode_rc != 0) return UnavailableError("cannot make store " + path + " private: " + std::strerror(errno));
    for (const char* suffix : {"-wal", "-shm", "-journal"}) ::chmod((path + suffix).c_str(), 0600);
  }
  int rc = sqlite3_open_v2(path.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status st = UnavailableError("cannot open store " + path + ": " +
                                 (impl->db ? sqlite3_errmsg(impl->db) : "out of memory"));
    return st;
  }
  sqlite3_busy_timeout(impl->db, 5000);
  OFN_RETURN_IF_ERROR(Exec(impl->db, "PRAGMA journal_mode = WAL"));
  OFN_RETURN_IF_ERROR(Exec(impl->db, options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                              : "PRAGMA synchronous = NORMAL"));
  OFN_RETURN_IF_ERROR(Exec(impl->db, "PRAGMA foreign_keys = ON"));
  int version = 0;
  {
    Statement s(impl->db, "PRAGMA user_version");
    if (s.Step()) version = static_cast<int>(s.Int(0));
    OFN_RETURN_IF_ERROR(s.status());
  }
  const auto& migrations = internal::Migrations();
  if (version > static_cast<int>(migrations.size())) {
    return FailedPreconditionError("store " + path + " has schema version " +
                                   std::to_string(version) + ", newer than this libofn (" +
                                   std::to_string(migrations.size()) + ")");
  }
  for (size_t i = static_cast<size_t>(version); i < migrations.size(); ++i) {
    OFN_RETURN_IF_ERROR(Exec(impl->db, "BEGIN IMMEDIATE"));
    Status st = Exec(impl->db, migrations[i]);
    if (st.ok()) st = Exec(impl->db, "PRAGMA user_version = " + std::to_string(i + 1));
    if (st.ok()) st = Exec(impl->db, "COMMIT");
    if (!st.ok()) {
      Exec(impl->db, "ROLLBACK").IgnoreError();
      return InternalError("migration " + std::to_string(i + 1) + " failed: " + st.message());
    }
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::vector<RevisionRecord>> Store::ListRevisions(std::string_view ns, std::string_view function) {
  Result<std::vector<RevisionRecord>> listed = std::vector<RevisionRecord>{};
  OFN_RETURN_IF_ERROR(Transact([&](Transaction& tx) {
    listed = tx.ListRevisions(ns, function);
    return listed.status();
  }));
  return listed;
}

Result<std::vector<BuildRecord>> Store::ListBuilds(std::string_view ns, std::string_view function) {
  Result<std::vector<BuildRecord>> listed = std::vector<BuildRecord>{};
  OFN_RETURN_IF_ERROR(Transact([&](Transaction& tx) {
    listed = tx.ListBuilds(ns, function);
    return listed.status();
  }));
  return listed;
}

Status Store::Transact(const std::function<Status(Transaction&)>& fn) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    OFN_RETURN_IF_ERROR(Exec(impl_->db, "BEGIN IMMEDIATE"));
    impl_->pending.clear();
    Transaction txn(this);
    Status st = fn(txn);
    if (st.ok()) st = Exec(impl_->db, "COMMIT");
    if (!st.ok()) {
      Exec(impl_->db, "ROLLBACK").IgnoreError();
      impl_->pending.clear();
      return st;
    }
    // Queue in commit order while still holding the write lock.
    std::lock_guard<std::recursive_mutex> wlock(impl_->watch_mu);
    for (WatchEvent& ev : impl_->pending) impl_->queue.push_back(std::move(ev));
    impl_->pending.clear();
    // An apply of thousands of objects leaves a vector sized for them; it
    // is not kept for the next one.
    if (impl_->pending.capacity() > 64) impl_->pending.shrink_to_fit();
  }
  impl_->Deliver();
  return Status();
}

template <typename T, typename Fn>
static Result<T> RunOne(Store* store, Fn fn) {
  std::optional<Result<T>> out;
  Status st = store->Transact([&](Transaction& txn) {
    out.emplace(fn(txn));
    return out->status();
  });
  if (!st.ok()) return st;
  return std::move(*out);
}

Result<Record> Store::Get(std::string_view kind, std::string_view ns, std::string_view name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Read(kind, ns, name);
}

Result<std::vector<Record>> Store::List(std::string_view kind, std::string_view ns) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Transaction txn(this);  // a single SELECT needs no explicit transaction
  return txn.List(kind, ns);
}

Status Store::ScanWithoutSpec(std::string_view kind, std::string_view ns,
                              const std::function<void(const Record&)>& visit) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement s(impl_->db, ObjectsQuery(kObjectColumnsWithoutSpec, ns));
  s.Bind(1, kind);
  if (!ns.empty()) s.Bind(2, ns);
  Record r;  // one for every row: its strings keep their memory
  while (s.Step()) {
    ReadRecordInto(s, &r);
    visit(r);
  }
  return s.status();
}

Result<std::vector<ObjectVersion>> Store::ListVersions(std::string_view kind, std::string_view ns) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement s(impl_->db, ObjectsQuery("namespace, name, resource_version, deletion_time", ns));
  s.Bind(1, kind);
  if (!ns.empty()) s.Bind(2, ns);
  std::vector<ObjectVersion> out;
  while (s.Step()) out.push_back(ObjectVersion{s.Text(0), s.Text(1), s.Int(2), s.Int(3)});
  if (!s.status().ok()) return s.status();
  return out;
}

Result<Record> Store::Create(const Record& r) {
  return RunOne<Record>(this, [&](Transaction& t) { return t.Create(r); });
}

Result<Record> Store::Update(const Record& r) {
  return RunOne<Record>(this, [&](Transaction& t) { return t.Update(r); });
}

Result<Record> Store::Apply(const Record& r) {
  return RunOne<Record>(this, [&](Transaction& t) { return t.Apply(r); });
}

Result<Record> Store::UpdateStatus(std::string_view kind, std::string_view ns,
                                   std::string_view name, std::string_view status_json,
                                   int64_t expected_rv) {
  return RunOne<Record>(this, [&](Transaction& t) {
    return t.UpdateStatus(kind, ns, name, status_json, expected_rv);
  });
}

Status Store::Delete(std::string_view kind, std::string_view ns, std::string_view name,
                     int64_t expected_rv) {
  return Transact([&](Transaction& t) { return t.Delete(kind, ns, name, expected_rv); });
}

int64_t Store::Watch(std::string kind, WatchFn fn) {
  std::lock_guard<std::recursive_mutex> lock(impl_->watch_mu);
  int64_t id = impl_->next_watch_id++;
  impl_->watchers[id] = {std::move(kind), std::move(fn)};
  return id;
}

void Store::Unwatch(int64_t id) {
  std::lock_guard<std::recursive_mutex> lock(impl_->watch_mu);
  impl_->watchers.erase(id);
}

int64_t Store::resource_version() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement s(impl_->db, "SELECT value FROM meta WHERE key = 'resource_version'");
  return s.Step() ? s.Int(0) : 0;
}

int Store::schema_version() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement s(impl_->db, "PRAGMA user_version");
  return s.Step() ? static_cast<int>(s.Int(0)) : 0;
}

Status Store::IntegrityCheck() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Statement s(impl_->db, "PRAGMA integrity_check");
  std::string report;
  while (s.Step()) report += s.Text(0);
  OFN_RETURN_IF_ERROR(s.status());
  if (report != "ok") return InternalError("integrity_check: " + report);
  return Status();
}

}  // namespace ofn::store
