#include "libofn/store/internal/sqlite.h"

#include <mutex>
#include <unordered_map>

namespace ofn::store::internal {

namespace {

struct Kept {
  sqlite3_stmt* stmt = nullptr;
  bool busy = false;
};
constexpr size_t kMaxKept = 256;

std::mutex kept_mu;
// By connection, then SQL text; nodes are stable (a Statement points at its flag).
std::unordered_map<sqlite3*, std::unordered_map<std::string, Kept>>& KeptStatements() {
  static auto* kept = new std::unordered_map<sqlite3*, std::unordered_map<std::string, Kept>>;
  return *kept;
}

}  // namespace

void ForgetStatements(sqlite3* db) {
  std::lock_guard<std::mutex> lock(kept_mu);
  auto it = KeptStatements().find(db);
  if (it == KeptStatements().end()) return;
  for (auto& [sql, k] : it->second) sqlite3_finalize(k.stmt);
  KeptStatements().erase(it);
}

Status SqliteError(sqlite3* db, std::string_view what) {
  int code = sqlite3_errcode(db);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return UnavailableError(msg);
  if (code == SQLITE_CONSTRAINT) return AlreadyExistsError(msg);
  return InternalError(msg);
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  std::lock_guard<std::mutex> lock(kept_mu);
  auto& kept = KeptStatements()[db];
  auto it = kept.find(std::string(sql));
  if (it != kept.end() && !it->second.busy) {
    it->second.busy = true;
    kept_busy_ = &it->second.busy;
    stmt_ = it->second.stmt;
    return;
  }
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_,
                         nullptr) != SQLITE_OK) {
    status_ = SqliteError(db, "prepare");
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    return;
  }
  if (it == kept.end() && kept.size() < kMaxKept) {
    Kept& k = kept[std::string(sql)];
    k.stmt = stmt_;
    k.busy = true;
    kept_busy_ = &k.busy;
  }
}

Statement::~Statement() {
  if (!kept_busy_) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  std::lock_guard<std::mutex> lock(kept_mu);
  *kept_busy_ = false;
}

Statement& Statement::Bind(int index, std::string_view text) {
  if (stmt_ && sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                                 SQLITE_TRANSIENT) != SQLITE_OK) {
    status_ = SqliteError(db_, "bind");
  }
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  if (stmt_ && sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) status_ = SqliteError(db_, "bind");
  return *this;
}

bool Statement::Step() {
  if (!stmt_ || !status_.ok()) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = SqliteError(db_, "step");
  return false;
}

std::string Statement::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(stmt_, col)) : "";
}

std::string_view Statement::View(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string_view(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string_view();
}

int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

Status Exec(sqlite3* db, std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  if (sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    int code = sqlite3_errcode(db);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return UnavailableError("exec: " + msg);
    return InternalError("exec: " + msg);
  }
  return Status();
}

}  // namespace ofn::store::internal
