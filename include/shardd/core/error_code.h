#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shardd {

// The one table of error codes that can appear on the wire, in `err.code` of a
// response or in `d.code` of a `sys.close` push. docs/protocol.md documents each
// code; keep the two in sync (a unit test checks that every code is documented).
enum class ErrorCode : std::uint8_t {
  kOk = 0,
  kBadRequest,          // malformed envelope or invalid arguments; connection stays open
  kUnknownOp,           // no handler registered for `op`; connection stays open
  kUnauthorized,        // op needs an authenticated session
  kForbidden,           // authenticated but not allowed
  kRateLimited,         // per-session message rate exceeded (err.retry_after_ms)
  kTooLarge,            // message bigger than limits.max_frame_bytes
  kInternal,            // server bug; logged with the request id
  kUnavailable,         // dependency down or server draining; retryable
  kTimeout,             // the operation did not complete in time; retryable
  kProtocolError,       // framing violation (TCP flags, sequence) or repeated bad messages
  kHeartbeatTimeout,    // nothing received for heartbeat_misses x heartbeat_ms
  kSlowConsumer,        // the client did not read its pushes fast enough
  kTooManyConnections,  // global or per-IP connection limit reached
  kShuttingDown,        // server is draining
  kUsernameTaken,       // auth.register: name already used (case-insensitively)
  kInvalidUsername,     // auth.register: 3-24 characters of A-Z a-z 0-9 _
  kWeakPassword,        // auth.register: password length outside 8-128
  kBadCredentials,      // auth.login/auth.token: unknown user, wrong password or dead token
  kBanned,              // account banned (err.until_ms, err.reason)
  kSessionExpired,      // sys.resume after the grace period (or unknown token)
  kNotFound,            // the named thing (zone, ...) does not exist
  kFull,                // zone (or room) at capacity
  kMaintenance,         // zone closed for maintenance
  kKicked,              // session ended by the server (logged in elsewhere, banned)
  kNameTaken,           // account.set_display_name: another player uses it (ignoring case)
  kInvalidName,         // account.set_display_name: breaks the display name rules
  kCount_,
};

// Wire name, e.g. "BAD_REQUEST".
std::string_view error_code_name(ErrorCode code);
// Inverse of error_code_name; nullopt for unknown names.
std::optional<ErrorCode> error_code_from_name(std::string_view name);
// True if a client may retry the same request later and expect success.
bool error_code_retryable(ErrorCode code);

}  // namespace shardd
