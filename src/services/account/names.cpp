#include "names.h"

#include <algorithm>
#include <array>

#include "errors.h"
#include "shardd/core/names.h"
#include "shardd/core/utf8.h"

namespace shardd::account {

namespace {

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

Status check_display_name(std::string_view name, const std::vector<std::string>& blocklist,
                          std::string* key) {
  std::string why;
  if (!names::check(name, 3, 24, blocklist, key, &why)) return invalid("display name " + why);
  return Status::Ok();
}

}  // namespace shardd::account
