#include "names.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <array>

#include "errors.h"
#include "shardd/core/utf8.h"

namespace shardd::account {

namespace {

// glibc's built-in C.UTF-8 locale: Unicode character classes and simple case
// mapping for every script. Null if it is missing (then ASCII rules only).
locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

bool is_alnum(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  }
  locale_t loc = utf8_locale();
  return loc && iswalnum_l(static_cast<wint_t>(cp), loc);
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

Status invalid(std::string msg) {
  return Status(kInvalidName, std::move(msg));
}

}  // namespace

bool valid_username(std::string_view u) {
  if (u.size() < 3 || u.size() > 24) return false;
  return std::all_of(u.begin(), u.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool valid_password(std::string_view p) {
  if (p.size() < 8 || p.size() > 4 * 128 || !utf8::valid(p)) return false;
  size_t n = utf8::length(p);
  return n >= 8 && n <= 128;
}

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  utf8::for_each(s, [&](char32_t cp) { utf8::append(lower(cp), &out); });
  return out;
}

Status check_display_name(std::string_view name, const std::vector<std::string>& blocklist,
                          std::string* key) {
  if (!utf8::valid(name)) return invalid("display name is not valid UTF-8");
  size_t n = utf8::length(name);
  if (n < 3 || n > 24) return invalid("display name must be 3-24 characters");
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
    return invalid(
        "display name may hold letters, digits, and single spaces, '_' or '-' between them");
  }
  *key = fold_case(name);
  for (std::string_view r : kReserved) {
    if (*key == r) return invalid("display name is reserved");
  }
  for (const auto& word : blocklist) {
    if (word.empty() || !utf8::valid(word)) continue;
    if (key->find(fold_case(word)) != std::string::npos)
      return invalid("display name is not allowed");
  }
  return Status::Ok();
}

}  // namespace shardd::account
