// Status and Result<T>: how errors that come from outside (files, the network,
// users) travel up to the frontend that reports them. Invariants of our own code
// use MOELAB_CHECK (check.h) instead.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace moelab {

// A success, or an error message that says what is wrong and where
// (file, key, tensor name, byte offset, JSON field). Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool is_ok() const { return !message_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const std::string& message() const {
    static const std::string kOk = "ok";
    return message_ ? *message_ : kOk;
  }
  // Prefixes context ("in tensor 'x': ") to an error; a no-op on success.
  Status with_context(const std::string& context) const {
    return is_ok() ? *this : Status(context + ": " + *message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must be an error

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace moelab

#define MOELAB_CONCAT_INNER(a, b) a##b
#define MOELAB_CONCAT(a, b) MOELAB_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define MOELAB_TRY(expr)                                     \
  do {                                                       \
    ::moelab::Status moelab_try_status_ = (expr);            \
    if (!moelab_try_status_.is_ok()) return moelab_try_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define MOELAB_ASSIGN_OR_RETURN(lhs, expr) \
  MOELAB_ASSIGN_OR_RETURN_IMPL(MOELAB_CONCAT(moelab_result_, __LINE__), lhs, expr)
#define MOELAB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.is_ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
