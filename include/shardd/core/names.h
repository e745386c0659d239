#pragma once

// Rules for names players see (display names, guild names): one place, so
// every service judges names the same way.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shardd::names {

// Unicode simple lower case of every code point (glibc's C.UTF-8 rules;
// ASCII only if that locale is missing). REQUIRES: valid UTF-8.
std::string fold_case(std::string_view s);

// A letter or digit of any script.
bool is_alnum(char32_t cp);

// A player-visible name: `min`..`max` characters (code points) of valid
// UTF-8; letters and digits of any script, and space, '_' and '-' between
// them (no leading or trailing space, no two spaces in a row); not a
// reserved word (admin, moderator, system, server, gm, staff, official ...)
// and containing none of `blocklist` (ignoring case). True and *key = the
// case-folded form (what must be unique); false and *why = the rule broken.
bool check(std::string_view name, size_t min, size_t max, const std::vector<std::string>& blocklist,
           std::string* key, std::string* why);

}  // namespace shardd::names
