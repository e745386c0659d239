#include "shardd/core/error_code.h"

#include <array>

#include "shardd/core/status.h"

namespace shardd {
namespace {

struct CodeInfo {
  std::string_view name;
  bool retryable;
};

constexpr std::array<CodeInfo, static_cast<size_t>(ErrorCode::kCount_)> kCodes = {{
    {"OK", false},
    {"BAD_REQUEST", false},
    {"UNKNOWN_OP", false},
    {"UNAUTHORIZED", false},
    {"FORBIDDEN", false},
    {"RATE_LIMITED", true},
    {"TOO_LARGE", false},
    {"INTERNAL", false},
    {"UNAVAILABLE", true},
    {"TIMEOUT", true},
    {"PROTOCOL_ERROR", false},
    {"HEARTBEAT_TIMEOUT", true},
    {"SLOW_CONSUMER", true},
    {"TOO_MANY_CONNECTIONS", true},
    {"SHUTTING_DOWN", true},
    {"USERNAME_TAKEN", false},
    {"INVALID_USERNAME", false},
    {"WEAK_PASSWORD", false},
    {"BAD_CREDENTIALS", false},
    {"BANNED", false},
    {"SESSION_EXPIRED", false},
    {"NOT_FOUND", false},
    {"FULL", true},
    {"MAINTENANCE", true},
    {"KICKED", false},
    {"NAME_TAKEN", false},
    {"INVALID_NAME", false},
}};

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  auto i = static_cast<size_t>(code);
  return i < kCodes.size() ? kCodes[i].name : std::string_view("INTERNAL");
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (size_t i = 0; i < kCodes.size(); ++i) {
    if (kCodes[i].name == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

bool error_code_retryable(ErrorCode code) {
  auto i = static_cast<size_t>(code);
  return i < kCodes.size() && kCodes[i].retryable;
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string out(error_code_name(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace shardd
