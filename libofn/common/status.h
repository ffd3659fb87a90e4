// Status and Result<T>: the one error type of libofn.
//
// A Status is OK (cheap: no allocation) or carries a code and a message.
// Result<T> holds either a value or a non-OK Status. Both are [[nodiscard]];
// no exception crosses the public API. Thread-safety: value types, safe to copy
// between threads; a single instance is not synchronized.
#ifndef LIBOFN_COMMON_STATUS_H_
#define LIBOFN_COMMON_STATUS_H_

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ofn {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kConflict,
  kFailedPrecondition,
  kUnavailable,
  kDeadlineExceeded,
  kResourceExhausted,
  kPermissionDenied,
  kUnimplemented,
  kInternal,
};

// Name of a code as printed in messages, e.g. "NotFound".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "OK" or "<Code>: <message>".
  std::string ToString() const;

  // Explicitly drop a Status that the caller has decided not to check.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status ConflictError(std::string message);
Status FailedPreconditionError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status InternalError(std::string message);
Status UnimplementedError(std::string message);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ofn

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define OFN_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::ofn::Status ofn_status_ = (expr);    \
    if (!ofn_status_.ok()) return ofn_status_; \
  } while (0)

#define OFN_CONCAT_INNER_(a, b) a##b
#define OFN_CONCAT_(a, b) OFN_CONCAT_INNER_(a, b)
// `OFN_ASSIGN_OR_RETURN(auto x, Fn());` declares x from a Result or returns its error.
#define OFN_ASSIGN_OR_RETURN(lhs, expr) \
  OFN_ASSIGN_OR_RETURN_IMPL_(OFN_CONCAT_(ofn_result_, __LINE__), lhs, expr)
#define OFN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

#endif  // LIBOFN_COMMON_STATUS_H_
