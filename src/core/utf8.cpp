#include "shardd/core/utf8.h"

namespace shardd::utf8 {

namespace {

// Length of the well-formed sequence starting at s[i], or 0 if it is not one
// (the byte ranges of RFC 3629 section 4).
size_t sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto in = [](unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; };
  unsigned char b = at(0);
  size_t left = s.size() - i;
  if (b < 0x80) return 1;
  if (in(b, 0xC2, 0xDF)) return left >= 2 && in(at(1), 0x80, 0xBF) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (left < 3) return 0;
    unsigned char lo = b == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    unsigned char hi = b == 0xED ? 0x9F : 0xBF;  // no surrogates
    return in(at(1), lo, hi) && in(at(2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in(b, 0xF0, 0xF4)) {
    if (left < 4) return 0;
    unsigned char lo = b == 0xF0 ? 0x90 : 0x80;  // no overlong forms
    unsigned char hi = b == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    return in(at(1), lo, hi) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

}  // namespace

bool valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs are the common case.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void append(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string quote(std::string_view s, size_t max_chars) {
  std::string out;
  out.reserve(std::min(s.size(), 3 * max_chars) + 3);
  size_t chars = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (chars == max_chars) {
      out += "\xE2\x80\xA6";  // …
      break;
    }
    size_t n = sequence_length(s, i);
    char32_t cp = 0xFFFD;
    if (n > 0) {
      size_t j = i;
      cp = detail::next(s, j);
    } else {
      n = 1;  // skip one bad byte
    }
    i += n;
    // C0, DEL and C1 controls, and the bidi/zero-width format characters that
    // can make a message display differently from what it says.
    bool control = cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || (cp >= 0x200B && cp <= 0x200F) ||
                   (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
    append(control ? char32_t{0xFFFD} : cp, &out);
    ++chars;
  }
  return out;
}

}  // namespace shardd::utf8
