#include "text.h"

#include <array>

#include "shardd/core/utf8.h"

namespace shardd::chat {
namespace {

// Characters that are removed outright: controls and invisible formatting.
bool removed(char32_t c) {
  if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return true;
  if (c >= 0x7F && c <= 0x9F) return true;                     // DEL, C1
  if (c == 0x00AD || c == 0x034F || c == 0x061C) return true;  // soft hyphen, CGJ, ALM
  if (c >= 0x200B && c <= 0x200F) return true;                 // zero width, LRM, RLM
  if (c >= 0x202A && c <= 0x202E) return true;                 // bidi embeddings, overrides
  if (c >= 0x2060 && c <= 0x2069) return true;                 // word joiner, bidi isolates
  if (c == 0xFEFF) return true;                                // BOM / ZWNBSP
  if (c >= 0xFFF9 && c <= 0xFFFB) return true;                 // interlinear annotation
  if (c >= 0xE0000 && c <= 0xE007F) return true;               // tag characters
  return false;
}

bool space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x00A0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000 || c == 0x3164 || c == 0x115F || c == 0x1160;
}

// Lower-case ASCII and fold full-width ASCII, for the authority check only.
char32_t fold(char32_t c) {
  if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;
  if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
  return c;
}

bool opens(char32_t c) {
  return c == '[' || c == '<' || c == '(' || c == '{' || c == 0x3010 /*【*/ || c == 0x300A /*《*/ ||
         c == 0x3008 /*〈*/ || c == 0x3014 /*〔*/ || c == 0xFF3B || c == 0xFF1C || c == 0xFF08;
}

constexpr std::array<std::u32string_view, 14> kAuthorities = {U"system",
                                                              U"server",
                                                              U"admin",
                                                              U"administrator",
                                                              U"gm",
                                                              U"mod",
                                                              U"moderator",
                                                              U"staff",
                                                              U"notice",
                                                              U"announcement",
                                                              U"\u7cfb\u7edf" /*系统*/,
                                                              U"\u516c\u544a" /*公告*/,
                                                              U"\u7ba1\u7406\u5458" /*管理员*/,
                                                              U"\u7cfb\u7d71" /*系統*/};

// True if `t` (folded code points) starts with an authority word, either
// bracketed ("[System]", "<gm>") or as a prefix ("Server: ...", "GM - ...").
bool fake_system(const std::u32string& t) {
  size_t i = 0;
  bool bracketed = !t.empty() && opens(t[0]);
  if (bracketed) {
    ++i;
    while (i < t.size() && t[i] == ' ') ++i;
  }
  for (auto word : kAuthorities) {
    if (t.compare(i, word.size(), word.data(), word.size()) != 0) continue;
    size_t j = i + word.size();
    if (j == t.size()) return bracketed;
    char32_t next = t[j];
    bool letter = (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9');
    if (letter) continue;  // "modest", "servers"
    if (bracketed) return true;
    while (j < t.size() && t[j] == ' ') ++j;
    if (j < t.size() && (t[j] == ':' || t[j] == '-' || t[j] == '>' || t[j] == 0xFF1A /*：*/ ||
                         t[j] == '|' || t[j] == ']')) {
      return true;
    }
  }
  return false;
}

}  // namespace

TextVerdict clean_text(std::string_view in, uint32_t max_chars, std::string* out) {
  out->clear();
  out->reserve(in.size());
  std::u32string folded;  // the first few code points, for the authority check
  size_t chars = 0;
  bool pending_space = false;
  utf8::for_each(in, [&](char32_t c) {
    if (removed(c)) return;
    if (space(c)) {
      pending_space = chars > 0;
      return;
    }
    if (pending_space) {
      out->push_back(' ');
      ++chars;
      if (folded.size() < 32) folded.push_back(' ');
      pending_space = false;
    }
    utf8::append(c, out);
    ++chars;
    if (folded.size() < 32) folded.push_back(fold(c));
  });
  if (chars == 0) return TextVerdict::kEmpty;
  if (chars > max_chars) return TextVerdict::kTooLong;
  if (fake_system(folded)) return TextVerdict::kFakeSystem;
  return TextVerdict::kOk;
}

std::string_view verdict_name(TextVerdict v) {
  switch (v) {
    case TextVerdict::kOk:
      return "ok";
    case TextVerdict::kEmpty:
      return "empty";
    case TextVerdict::kTooLong:
      return "too_long";
    case TextVerdict::kFakeSystem:
      return "fake_system";
  }
  return "?";
}

}  // namespace shardd::chat
