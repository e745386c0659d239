#pragma once

// The account service's rules for names and passwords.

#include <string>
#include <string_view>
#include <vector>

#include "shardd/core/status.h"

namespace shardd::account {

// Login names: 3-24 characters of A-Z a-z 0-9 _ (unique ignoring case).
bool valid_username(std::string_view username);

// Passwords: 8-128 characters (Unicode code points) of valid UTF-8. They are
// not normalized: the bytes the client sends are what is hashed, so clients
// should send NFC (the JavaScript SDK does).
bool valid_password(std::string_view password);

// Display names: 3-24 characters; letters and digits of any script, and
// space, '_' and '-' between them (no leading or trailing space, no two
// spaces in a row); not one of the reserved names (admin, moderator, system,
// ...) and containing none of `blocklist` (ignoring case). On success *key is
// the lower-cased form that must be unique. INVALID_NAME otherwise, with a
// message saying which rule.
Status check_display_name(std::string_view name, const std::vector<std::string>& blocklist,
                          std::string* key);


}  // namespace shardd::account
