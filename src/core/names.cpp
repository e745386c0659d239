#include "shardd/core/names.h"

#include <locale.h>
#include <wctype.h>

#include <array>

#include "shardd/core/utf8.h"

namespace shardd::names {

namespace {

// glibc's built-in C.UTF-8 locale: Unicode character classes and simple case
// mapping for every script. Null if it is missing (then ASCII rules only).
locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

char32_t lower(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp - 'A' + 'a' : cp;
  locale_t loc = utf8_locale();
  if (!loc) return cp;
  auto l = static_cast<char32_t>(towlower_l(static_cast<wint_t>(cp), loc));
  return (l >= 0xD800 && l <= 0xDFFF) || l > 0x10FFFF ? cp : l;
}

constexpr std::array<std::string_view, 12> kReserved = {
    "admin",  "administrator", "moderator", "mod",     "gm",    "gamemaster",
    "system", "server",        "shardd",    "support", "staff", "official"};

}  // namespace

bool is_alnum(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  }
  locale_t loc = utf8_locale();
  return loc && iswalnum_l(static_cast<wint_t>(cp), loc);
}

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  utf8::for_each(s, [&](char32_t cp) { utf8::append(lower(cp), &out); });
  return out;
}

bool check(std::string_view name, size_t min, size_t max, const std::vector<std::string>& blocklist,
           std::string* key, std::string* why) {
  if (!utf8::valid(name)) {
    *why = "is not valid UTF-8";
    return false;
  }
  size_t n = utf8::length(name);
  if (n < min || n > max) {
    *why = "must be " + std::to_string(min) + "-" + std::to_string(max) + " characters";
    return false;
  }
  bool ok = true;
  bool any_alnum = false;
  char32_t prev = ' ';  // so a leading space is caught as "two spaces"
  utf8::for_each(name, [&](char32_t cp) {
    bool alnum = is_alnum(cp);
    any_alnum = any_alnum || alnum;
    if (!alnum && cp != ' ' && cp != '_' && cp != '-') ok = false;
    if (cp == ' ' && prev == ' ') ok = false;
    prev = cp;
  });
  if (!ok || prev == ' ' || !any_alnum) {
    *why = "may hold letters, digits, and single spaces, '_' or '-' between them";
    return false;
  }
  *key = fold_case(name);
  for (std::string_view r : kReserved) {
    if (*key == r) {
      *why = "is reserved";
      return false;
    }
  }
  for (const auto& word : blocklist) {
    if (word.empty() || !utf8::valid(word)) continue;
    if (key->find(fold_case(word)) != std::string::npos) {
      *why = "is not allowed";
      return false;
    }
  }
  return true;
}

}  // namespace shardd::names
