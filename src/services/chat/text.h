#pragma once

// Chat text rules (pure functions; the chat service applies them to every
// player message before anything else happens to it).

#include <cstdint>
#include <string>
#include <string_view>

namespace shardd::chat {

enum class TextVerdict : uint8_t {
  kOk,
  kEmpty,       // nothing left after cleaning
  kTooLong,     // more than max_chars code points after cleaning
  kFakeSystem,  // starts like server text: "[System] ...", "<GM>", "Server: ..."
};

// Cleans a player's text. REQUIRES: `in` is valid UTF-8 (the gateway's
// argument check guarantees it).
//  - control characters (C0, DEL, C1), bidirectional overrides and isolates
//    (U+202A-202E, U+2066-2069, U+200E/F, U+061C), zero-width characters
//    (U+200B-200D, U+2060, U+FEFF) and other format characters that can
//    disguise text are removed;
//  - tabs, line breaks and every other space character become one space,
//    runs of spaces collapse to one, and leading and trailing spaces go, so
//    no message can push its text to look like a separate line or a
//    different speaker;
//  - then the result must have 1..max_chars code points and must not start
//    like server text (a bracketed or prefixed authority word: system,
//    server, admin, gm, mod, moderator, staff, notice, announcement, and
//    their usual Chinese forms).
// *out gets the cleaned text (also when the verdict is not kOk).
TextVerdict clean_text(std::string_view in, uint32_t max_chars, std::string* out);

std::string_view verdict_name(TextVerdict v);

}  // namespace shardd::chat
