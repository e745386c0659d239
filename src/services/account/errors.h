#pragma once

// The account module's error codes (registered by its ServiceDef; the table
// of docs/protocol.md lists them).

#include "shardd/core/error_code.h"

namespace shardd::account {

namespace defs {
inline constexpr ErrorDef kUsernameTaken{"USERNAME_TAKEN", false,
                                         "auth.register: name already used (ignoring case)"};
inline constexpr ErrorDef kInvalidUsername{"INVALID_USERNAME", false,
                                           "auth.register: 3-24 characters of A-Z a-z 0-9 _"};
inline constexpr ErrorDef kWeakPassword{"WEAK_PASSWORD", false,
                                        "password length outside 8-128 characters"};
inline constexpr ErrorDef kBadCredentials{
    "BAD_CREDENTIALS", false, "unknown user, wrong password or dead token"};
inline constexpr ErrorDef kBanned{"BANNED", false, "account banned (err.until_ms, err.reason)"};
inline constexpr ErrorDef kNameTaken{"NAME_TAKEN", false,
                                     "account.set_display_name: another player uses it"};
inline constexpr ErrorDef kInvalidName{"INVALID_NAME", false,
                                       "account.set_display_name: breaks the display name rules"};
inline constexpr ErrorDef kMaintenance{"MAINTENANCE", true, "zone closed for maintenance"};
}  // namespace defs

inline constexpr ErrorCode kUsernameTaken{defs::kUsernameTaken};
inline constexpr ErrorCode kInvalidUsername{defs::kInvalidUsername};
inline constexpr ErrorCode kWeakPassword{defs::kWeakPassword};
inline constexpr ErrorCode kBadCredentials{defs::kBadCredentials};
inline constexpr ErrorCode kBanned{defs::kBanned};
inline constexpr ErrorCode kNameTaken{defs::kNameTaken};
inline constexpr ErrorCode kInvalidName{defs::kInvalidName};
inline constexpr ErrorCode kMaintenance{defs::kMaintenance};

}  // namespace shardd::account
