#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "shardd/core/error_code.h"

namespace shardd {

// Result of an operation that can fail in an expected way (bad input, limits,
// unavailable dependency). Unexpected failures (bugs) are not Statuses.
// Cheap to return on success (no allocation). Not thread-safe to mutate.
class Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message, uint32_t retry_after_ms = 0)
      : code_(code), message_(std::move(message)), retry_after_ms_(retry_after_ms) {}

  static Status Ok() { return Status(); }
  static Status BadRequest(std::string msg) { return {ErrorCode::kBadRequest, std::move(msg)}; }
  static Status Internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }
  static Status Unavailable(std::string msg, uint32_t retry_after_ms = 0) {
    return {ErrorCode::kUnavailable, std::move(msg), retry_after_ms};
  }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // For retryable failures: when to try again (0: not said). Sent to clients
  // as err.retry_after_ms.
  uint32_t retry_after_ms() const { return retry_after_ms_; }
  // "BAD_REQUEST: message"
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  uint32_t retry_after_ms_ = 0;
};

}  // namespace shardd
