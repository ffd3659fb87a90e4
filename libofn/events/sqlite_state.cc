// state.sqlite: a state store in an SQLite file, with Dapr's metadata names
// and table layout (key, value, is_binary, etag, expiration_time,
// update_time), so a database a Dapr sidecar wrote reads here and back.
//   connectionString  a file path, a "file:" URI, or ":memory:" (required)
//   tableName         the table ("state")
//   busyTimeout       how long a write waits for a lock held elsewhere ("2s")
//   disableWAL        "true": the rollback journal instead of WAL
// A request's ttlInSeconds metadata sets an expiry, on the platform clock;
// expired rows read as absent and are removed on the next write. Etags are
// random per write; a write or delete naming an etag applies only when it
// matches (first-write-wins). Transactions are one SQLite transaction.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "libofn/common/clock.h"
#include "libofn/events/internal/brokers.h"
#include "libofn/spec/units.h"
#include "libofn/store/internal/sqlite.h"

namespace ofn::events {
namespace {

using store::internal::Exec;
using store::internal::SqliteError;
using store::internal::Statement;

// A table name is spliced into SQL: letters, digits and '_' only.
bool ValidTableName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return !std::isdigit(static_cast<unsigned char>(name[0]));
}

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(sqlite3* db, std::string table, Clock* clock) : db_(db), table_(std::move(table)), clock_(clock) {}
  ~SqliteStateStore() override {
    ofn::store::internal::ForgetStatements(db_);
    sqlite3_close(db_);
  }

  Status Init() {
    return Exec(db_, "CREATE TABLE IF NOT EXISTS " + table_ +
                         " (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, is_binary BOOLEAN NOT NULL,"
                         " etag TEXT NOT NULL, expiration_time TIMESTAMP DEFAULT NULL,"
                         " update_time TIMESTAMP DEFAULT NULL)");
  }

  Result<StateItem> Get(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement q(db_, "SELECT value, etag, expiration_time FROM " + table_ +
                         " WHERE key = ?1 AND (expiration_time IS NULL OR expiration_time > ?2)");
    q.Bind(1, key).Bind(2, Now());
    if (!q.Step()) {
      OFN_RETURN_IF_ERROR(q.status());
      return Status(StatusCode::kNotFound, "no state under key \"" + key + "\"");
    }
    StateItem item;
    item.key = key;
    item.value = q.Text(0);
    item.etag = q.Text(1);
    if (std::string expires = q.Text(2); !expires.empty()) item.metadata["ttlExpireTime"] = expires;
    return item;
  }

  Status Set(const StateItem& item) override {
    std::lock_guard<std::mutex> lock(mu_);
    OFN_RETURN_IF_ERROR(Purge());
    return Upsert(item);
  }

  Status Delete(const std::string& key, const std::string& etag) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Remove(key, etag);
  }

  Status Transact(const std::vector<StateOperation>& operations) override {
    std::lock_guard<std::mutex> lock(mu_);
    OFN_RETURN_IF_ERROR(Purge());
    OFN_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
    for (const StateOperation& op : operations) {
      Status s = op.kind == StateOperation::Kind::kDelete ? Remove(op.item.key, op.item.etag) : Upsert(op.item);
      if (!s.ok()) {
        Exec(db_, "ROLLBACK").IgnoreError();
        return s;
      }
    }
    return Exec(db_, "COMMIT");
  }

 private:
  // RFC 3339 UTC to the millisecond: a form that sorts as text.
  std::string Format(Clock::TimePoint t) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::string text = FormatRfc3339(t);  // "...:SSZ"
    char fraction[8];
    std::snprintf(fraction, sizeof(fraction), ".%03d", static_cast<int>(ms));
    text.insert(text.size() - 1, fraction);
    return text;
  }
  std::string Now() const { return Format(clock_->Now()); }

  std::string NewEtag() {
    std::uniform_int_distribution<uint64_t> dist;
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(dist(rng_)),
                  static_cast<unsigned long long>(dist(rng_)));
    return buf;
  }

  Status Purge() {
    Statement q(db_, "DELETE FROM " + table_ + " WHERE expiration_time IS NOT NULL AND expiration_time <= ?1");
    q.Bind(1, Now());
    q.Step();
    return q.status();
  }

  Status Upsert(const StateItem& item) {
    std::string expires;
    if (auto ttl = item.metadata.find("ttlInSeconds"); ttl != item.metadata.end() && !ttl->second.empty()) {
      char* end = nullptr;
      long long secs = std::strtoll(ttl->second.c_str(), &end, 10);
      if (*end != '\0' || secs < -1) {
        return Status(StatusCode::kInvalidArgument, "metadata ttlInSeconds: \"" + ttl->second + "\" is not a whole number of seconds");
      }
      if (secs >= 0) expires = Format(clock_->Now() + std::chrono::seconds(secs));
    }
    const std::string etag = NewEtag(), now = Now();
    if (!item.etag.empty()) {
      Statement q(db_, "UPDATE " + table_ +
                           " SET value = ?1, is_binary = 0, etag = ?2, expiration_time = NULLIF(?3, ''),"
                           " update_time = ?4 WHERE key = ?5 AND etag = ?6");
      q.Bind(1, item.value).Bind(2, etag).Bind(3, expires).Bind(4, now).Bind(5, item.key).Bind(6, item.etag);
      q.Step();
      OFN_RETURN_IF_ERROR(q.status());
      if (sqlite3_changes(db_) == 0) {
        return Status(StatusCode::kFailedPrecondition, "etag mismatch for key \"" + item.key + "\"");
      }
      return Status::Ok();
    }
    Statement q(db_, "INSERT INTO " + table_ +
                         " (key, value, is_binary, etag, expiration_time, update_time)"
                         " VALUES (?1, ?2, 0, ?3, NULLIF(?4, ''), ?5) ON CONFLICT(key) DO UPDATE SET"
                         " value = excluded.value, is_binary = 0, etag = excluded.etag,"
                         " expiration_time = excluded.expiration_time, update_time = excluded.update_time");
    q.Bind(1, item.key).Bind(2, item.value).Bind(3, etag).Bind(4, expires).Bind(5, now);
    q.Step();
    return q.status();
  }

  Status Remove(const std::string& key, const std::string& etag) {
    Statement q(db_, etag.empty() ? "DELETE FROM " + table_ + " WHERE key = ?1"
                                  : "DELETE FROM " + table_ + " WHERE key = ?1 AND etag = ?2");
    q.Bind(1, key);
    if (!etag.empty()) q.Bind(2, etag);
    q.Step();
    OFN_RETURN_IF_ERROR(q.status());
    if (!etag.empty() && sqlite3_changes(db_) == 0) {
      return Status(StatusCode::kFailedPrecondition, "etag mismatch for key \"" + key + "\"");
    }
    return Status::Ok();
  }

  sqlite3* const db_;
  const std::string table_;
  Clock* const clock_;
  std::mutex mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

Result<std::shared_ptr<StateStore>> NewSqliteStateStore(const ComponentSpec& spec, ComponentEnv* env) {
  std::string target = spec.Get("connectionString");
  if (target.empty()) {
    return Status(StatusCode::kInvalidArgument, "metadata connectionString is required (a file path or \":memory:\")");
  }
  const std::string table = spec.Get("tableName", "state");
  if (!ValidTableName(table)) {
    return Status(StatusCode::kInvalidArgument, "metadata tableName \"" + table + "\": letters, digits and '_' only");
  }
  double busy = 2;
  if (std::string text = spec.Get("busyTimeout"); !text.empty() && !spec::ParseGoDuration(text, &busy)) {
    return Status(StatusCode::kInvalidArgument, "metadata busyTimeout \"" + text + "\" is not a duration (\"2s\")");
  }
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(target.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status(StatusCode::kUnavailable, "cannot open \"" + target + "\": " + why);
  }
  sqlite3_busy_timeout(db, static_cast<int>(busy * 1000));
  auto store = std::make_shared<SqliteStateStore>(db, table, env->clock());
  if (spec.Get("disableWAL") != "true" && target != ":memory:") {
    if (Status s = Exec(db, "PRAGMA journal_mode=WAL"); !s.ok()) return s;
  }
  OFN_RETURN_IF_ERROR(store->Init());
  return std::shared_ptr<StateStore>(std::move(store));
}

}  // namespace

void RegisterSqliteComponents(ComponentRegistry* registry) { registry->AddStateStore("state.sqlite", NewSqliteStateStore); }

}  // namespace ofn::events
