// Thin RAII wrappers over the SQLite C API. Internal; not thread-safe (the
// Store serializes access).
#ifndef LIBOFN_STORE_INTERNAL_SQLITE_H_
#define LIBOFN_STORE_INTERNAL_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "libofn/common/status.h"

namespace ofn::store::internal {

// A statement of a connection. Prepared statements are kept per connection
// and SQL text (at most 256 each) and reused: preparing is a large part of a
// small query. A statement whose kept copy is in use is prepared afresh.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  // SQLITE_ROW -> true, SQLITE_DONE -> false; errors go to status().
  bool Step();
  Status status() const { return status_; }
  std::string Text(int col) const;
  // The same bytes in place: valid until the next Step.
  std::string_view View(int col) const;
  int64_t Int(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool* kept_busy_ = nullptr;  // the kept statement's in-use flag; null: owned
  Status status_;
};

// Finalizes the statements kept for the connection; before it is closed.
void ForgetStatements(sqlite3* db);

// Executes one or more statements that return no rows.
Status Exec(sqlite3* db, std::string_view sql);
Status SqliteError(sqlite3* db, std::string_view what);

}  // namespace ofn::store::internal

#endif  // LIBOFN_STORE_INTERNAL_SQLITE_H_
