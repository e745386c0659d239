#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardd {

// What an error code is: its wire name (`err.code` of a response, `d.code` of
// a `sys.close` push), whether the same request may succeed later, and one
// line for the error table of docs/protocol.md.
struct ErrorDef {
  std::string_view name;
  bool retryable;
  std::string_view doc;
};

namespace error_defs {
inline constexpr ErrorDef kOk{"OK", false, "no error"};
inline constexpr ErrorDef kBadRequest{
    "BAD_REQUEST", false, "malformed envelope or invalid arguments; the connection stays open"};
inline constexpr ErrorDef kUnknownOp{"UNKNOWN_OP", false, "no handler registered for `op`"};
inline constexpr ErrorDef kUnauthorized{"UNAUTHORIZED", false,
                                        "the op needs an authenticated session"};
inline constexpr ErrorDef kForbidden{"FORBIDDEN", false, "authenticated but not allowed"};
inline constexpr ErrorDef kRateLimited{"RATE_LIMITED", true,
                                       "a rate limit was hit (err.retry_after_ms)"};
inline constexpr ErrorDef kTooLarge{"TOO_LARGE", false,
                                    "message bigger than limits.max_frame_bytes"};
inline constexpr ErrorDef kInternal{"INTERNAL", false, "server bug; logged with the request id"};
inline constexpr ErrorDef kUnavailable{"UNAVAILABLE", true,
                                       "dependency down or overloaded; retry after retry_after_ms"};
inline constexpr ErrorDef kTimeout{"TIMEOUT", true, "the operation did not complete in time"};
inline constexpr ErrorDef kProtocolError{"PROTOCOL_ERROR", false,
                                         "framing violation or repeated bad messages"};
inline constexpr ErrorDef kHeartbeatTimeout{"HEARTBEAT_TIMEOUT", true,
                                            "nothing received for heartbeat_misses x heartbeat_ms"};
inline constexpr ErrorDef kSlowConsumer{"SLOW_CONSUMER", true,
                                        "the client did not read its pushes fast enough"};
inline constexpr ErrorDef kTooManyConnections{"TOO_MANY_CONNECTIONS", true,
                                              "global or per-IP connection limit reached"};
inline constexpr ErrorDef kShuttingDown{"SHUTTING_DOWN", true, "the server is draining"};
inline constexpr ErrorDef kSessionExpired{"SESSION_EXPIRED", false,
                                          "sys.resume after the grace period (or unknown token)"};
inline constexpr ErrorDef kNotFound{"NOT_FOUND", false, "the named thing does not exist"};
inline constexpr ErrorDef kFull{"FULL", true, "at capacity"};
inline constexpr ErrorDef kKicked{"KICKED", false, "session ended by the server"};
}  // namespace error_defs

// An error code: a reference to its ErrorDef. Core's codes are the static
// members below; a module defines its own codes next to its code
//   inline constexpr ErrorDef kMutedDef{"MUTED", true, "..."};
//   inline constexpr ErrorCode kMuted{kMutedDef};
// and registers them (ServiceDef::errors) into the one table (ErrorTable),
// which docs/protocol.md documents and a test checks.
// Two codes are equal when they are the same ErrorDef. Cheap to copy.
class ErrorCode {
 public:
  constexpr ErrorCode() noexcept : def_(&error_defs::kOk) {}
  constexpr explicit ErrorCode(const ErrorDef& def) noexcept : def_(&def) {}

  constexpr std::string_view name() const { return def_->name; }
  constexpr bool retryable() const { return def_->retryable; }
  constexpr std::string_view doc() const { return def_->doc; }
  constexpr const ErrorDef* def() const { return def_; }
  constexpr bool operator==(const ErrorCode& o) const { return def_ == o.def_; }

  static const ErrorCode kOk;
  static const ErrorCode kBadRequest;
  static const ErrorCode kUnknownOp;
  static const ErrorCode kUnauthorized;
  static const ErrorCode kForbidden;
  static const ErrorCode kRateLimited;
  static const ErrorCode kTooLarge;
  static const ErrorCode kInternal;
  static const ErrorCode kUnavailable;
  static const ErrorCode kTimeout;
  static const ErrorCode kProtocolError;
  static const ErrorCode kHeartbeatTimeout;
  static const ErrorCode kSlowConsumer;
  static const ErrorCode kTooManyConnections;
  static const ErrorCode kShuttingDown;
  static const ErrorCode kSessionExpired;
  static const ErrorCode kNotFound;
  static const ErrorCode kFull;
  static const ErrorCode kKicked;

 private:
  const ErrorDef* def_;
};

inline constexpr ErrorCode ErrorCode::kOk{error_defs::kOk};
inline constexpr ErrorCode ErrorCode::kBadRequest{error_defs::kBadRequest};
inline constexpr ErrorCode ErrorCode::kUnknownOp{error_defs::kUnknownOp};
inline constexpr ErrorCode ErrorCode::kUnauthorized{error_defs::kUnauthorized};
inline constexpr ErrorCode ErrorCode::kForbidden{error_defs::kForbidden};
inline constexpr ErrorCode ErrorCode::kRateLimited{error_defs::kRateLimited};
inline constexpr ErrorCode ErrorCode::kTooLarge{error_defs::kTooLarge};
inline constexpr ErrorCode ErrorCode::kInternal{error_defs::kInternal};
inline constexpr ErrorCode ErrorCode::kUnavailable{error_defs::kUnavailable};
inline constexpr ErrorCode ErrorCode::kTimeout{error_defs::kTimeout};
inline constexpr ErrorCode ErrorCode::kProtocolError{error_defs::kProtocolError};
inline constexpr ErrorCode ErrorCode::kHeartbeatTimeout{error_defs::kHeartbeatTimeout};
inline constexpr ErrorCode ErrorCode::kSlowConsumer{error_defs::kSlowConsumer};
inline constexpr ErrorCode ErrorCode::kTooManyConnections{error_defs::kTooManyConnections};
inline constexpr ErrorCode ErrorCode::kShuttingDown{error_defs::kShuttingDown};
inline constexpr ErrorCode ErrorCode::kSessionExpired{error_defs::kSessionExpired};
inline constexpr ErrorCode ErrorCode::kNotFound{error_defs::kNotFound};
inline constexpr ErrorCode ErrorCode::kFull{error_defs::kFull};
inline constexpr ErrorCode ErrorCode::kKicked{error_defs::kKicked};

// Wire name, e.g. "BAD_REQUEST".
inline std::string_view error_code_name(ErrorCode code) { return code.name(); }
// True if a client may retry the same request later and expect success.
inline bool error_code_retryable(ErrorCode code) { return code.retryable(); }

// Core's codes, in table order (OK first).
const std::vector<ErrorCode>& core_error_codes();

// The one table of error codes that can appear on the wire: core's and every
// module's. Names are unique. Built while the server is assembled, read-only
// afterwards (then safe from any thread).
class ErrorTable {
 public:
  struct Entry {
    ErrorCode code;
    std::string module;  // "core", "account", ...
  };
  // Core's codes.
  ErrorTable();
  // Adds a module's code. False if another code already has the name (the
  // same code again is accepted).
  bool add(std::string_view module, ErrorCode code);
  std::optional<ErrorCode> find(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace shardd
