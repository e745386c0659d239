#pragma once

// The profanity filter: Aho–Corasick over normalized text.
//
// Text and words are normalized the same way, code point by code point:
// case folded (ASCII, Latin-1, Greek, Cyrillic), full-width forms folded to
// ASCII, accents dropped from Latin letters, common look-alike substitutions
// (0→o, 1/!/|→i, 3→e, 4/@→a, 5/$→s, 7→t) and separators inside a word
// (. - _ * ' " ~ + ^ ,) skipped, so "F.u-C k" still shows its letters. A word
// matches at word boundaries ("ass" does not match "class"); a leading or
// trailing `*` in the list drops that boundary ("*fuck*" matches anywhere).
// Lines starting with `#` and empty lines are ignored.
//
// Immutable once built, so one filter is shared by every thread; a reload
// builds a new one.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardd/core/status.h"

namespace shardd::chat {

class WordFilter {
 public:
  // Builds the automaton. Words that normalize to nothing are skipped.
  static std::shared_ptr<const WordFilter> build(const std::vector<std::string>& words);
  // Reads a word list (UTF-8, one per line). NOT_FOUND/BAD_REQUEST on error.
  static Status load(const std::string& path, std::vector<std::string>* words);

  size_t size() const { return words_; }
  // Byte ranges [first, second) of `text` (valid UTF-8) that match a word,
  // in order, not overlapping. Empty: clean.
  std::vector<std::pair<size_t, size_t>> find(std::string_view text) const;
  // `text` with every letter inside a match replaced by '*' (spaces kept).
  std::string mask(std::string_view text,
                   const std::vector<std::pair<size_t, size_t>>& ranges) const;

 private:
  struct Node {
    std::vector<std::pair<char32_t, int32_t>> next;  // sorted by code point
    int32_t fail = 0;
    int32_t out = -1;        // a word ending here (index into patterns_), or -1
    int32_t dict_link = -1;  // nearest node on the fail chain with out >= 0
  };
  struct Pattern {
    uint32_t length;  // normalized code points
    bool start_boundary;
    bool end_boundary;
  };

  int32_t step(int32_t node, char32_t c) const;
  int32_t child(int32_t node, char32_t c) const;

  std::vector<Node> nodes_;
  std::vector<Pattern> patterns_;
  size_t words_ = 0;
};

// The normalized form of one code point: 0 when it is a skipped separator;
// ' ' for a word boundary (spaces and other punctuation).
char32_t normalize_char(char32_t c);

}  // namespace shardd::chat
