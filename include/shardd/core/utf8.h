#pragma once

// UTF-8 checks for untrusted text (client strings, MessagePack values, names).

#include <cstddef>
#include <string>
#include <string_view>

namespace shardd::utf8 {

// True if `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool valid(std::string_view s);

// Number of code points. REQUIRES: valid(s).
size_t length(std::string_view s);

// Calls fn(code_point) for each code point. REQUIRES: valid(s).
template <class Fn>
void for_each(std::string_view s, Fn&& fn);

// Appends `cp` encoded as UTF-8. REQUIRES: cp <= 0x10FFFF and not a surrogate.
void append(char32_t cp, std::string* out);

// A short, safe rendering of untrusted text for error messages and logs: at
// most `max_chars` code points of `s`, invalid bytes and control characters
// replaced by U+FFFD, and "…" appended when cut. Never longer than
// 4 * max_chars + 3 bytes, whatever the input.
std::string quote(std::string_view s, size_t max_chars = 32);

// ---- implementation

namespace detail {
// Decodes the code point at s[i] and advances i. REQUIRES: valid input.
inline char32_t next(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
  char32_t cp = b & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += static_cast<size_t>(extra) + 1;
  return cp;
}
}  // namespace detail

template <class Fn>
void for_each(std::string_view s, Fn&& fn) {
  for (size_t i = 0; i < s.size();) fn(detail::next(s, i));
}

}  // namespace shardd::utf8
