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
  int64_t Int(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

// Executes one or more statements that return no rows.
Status Exec(sqlite3* db, std::string_view sql);
Status SqliteError(sqlite3* db, std::string_view what);

}  // namespace ofn::store::internal

#endif  // LIBOFN_STORE_INTERNAL_SQLITE_H_
