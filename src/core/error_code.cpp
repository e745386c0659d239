#include "shardd/core/error_code.h"

#include "shardd/core/status.h"

namespace shardd {

const std::vector<ErrorCode>& core_error_codes() {
  static const std::vector<ErrorCode> codes = {
      ErrorCode::kOk,           ErrorCode::kBadRequest,       ErrorCode::kUnknownOp,
      ErrorCode::kUnauthorized, ErrorCode::kForbidden,        ErrorCode::kRateLimited,
      ErrorCode::kTooLarge,     ErrorCode::kInternal,         ErrorCode::kUnavailable,
      ErrorCode::kTimeout,      ErrorCode::kProtocolError,    ErrorCode::kHeartbeatTimeout,
      ErrorCode::kSlowConsumer, ErrorCode::kTooManyConnections, ErrorCode::kShuttingDown,
      ErrorCode::kSessionExpired, ErrorCode::kNotFound,       ErrorCode::kFull,
      ErrorCode::kKicked,
  };
  return codes;
}

ErrorTable::ErrorTable() {
  for (ErrorCode c : core_error_codes()) entries_.push_back({c, "core"});
}

bool ErrorTable::add(std::string_view module, ErrorCode code) {
  for (const auto& e : entries_) {
    if (e.code.name() == code.name()) return e.code == code;
  }
  entries_.push_back({code, std::string(module)});
  return true;
}

std::optional<ErrorCode> ErrorTable::find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.code.name() == name) return e.code;
  }
  return std::nullopt;
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string out(code_.name());
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace shardd
