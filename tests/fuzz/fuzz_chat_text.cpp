// libFuzzer: chat text from players (src/services/chat/text.cpp) and the word
// filter (word_filter.cpp), built from fuzzed word lists too.
// Input: byte 0 = max_chars (1-64); then a word list, a 0xFF byte, a text
// (without the separator: the whole rest is both the list and the text).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "services/chat/text.h"
#include "services/chat/word_filter.h"
#include "shardd/core/utf8.h"

using namespace shardd;
using namespace shardd::chat;

namespace {

bool has_control(std::string_view s) {
  bool bad = false;
  utf8::for_each(s, [&](char32_t c) {
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E)) bad = true;
  });
  return bad;
}

void check_filter(const WordFilter& f, std::string_view text) {
  auto ranges = f.find(text);
  size_t prev = 0;
  for (const auto& [b, e] : ranges) {
    // In order, not overlapping, on code point boundaries, inside the text.
    SHARDD_FUZZ_CHECK(b >= prev && b < e && e <= text.size());
    SHARDD_FUZZ_CHECK(utf8::valid(text.substr(b, e - b)));
    prev = e;
  }
  std::string masked = f.mask(text, ranges);
  SHARDD_FUZZ_CHECK(utf8::valid(masked));
  if (ranges.empty()) SHARDD_FUZZ_CHECK(masked == text);
  // Masking keeps the number of characters (each is replaced by one).
  SHARDD_FUZZ_CHECK(utf8::length(masked) == utf8::length(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint32_t max_chars = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t sep = rest.find('\xFF');
  std::string_view list = sep == std::string_view::npos ? rest : rest.substr(0, sep);
  std::string_view text = sep == std::string_view::npos ? rest : rest.substr(sep + 1);
  if (!utf8::valid(text)) return 0;  // the gateway refuses invalid UTF-8 first

  std::string out;
  TextVerdict v = clean_text(text, max_chars, &out);
  SHARDD_FUZZ_CHECK(utf8::valid(out));
  SHARDD_FUZZ_CHECK(!has_control(out));
  SHARDD_FUZZ_CHECK(out.empty() || (out.front() != ' ' && out.back() != ' '));
  SHARDD_FUZZ_CHECK(out.find("  ") == std::string::npos);
  if (v == TextVerdict::kOk) {
    SHARDD_FUZZ_CHECK(!out.empty() && utf8::length(out) <= max_chars);
    // Cleaning is idempotent: clean text stays as it is.
    std::string again;
    SHARDD_FUZZ_CHECK(clean_text(out, max_chars, &again) == TextVerdict::kOk && again == out);
  }
  SHARDD_FUZZ_CHECK(v != TextVerdict::kEmpty || out.empty());

  std::vector<std::string> words;
  size_t pos = 0;
  while (pos <= list.size() && words.size() < 64) {
    size_t nl = list.find('\n', pos);
    if (nl == std::string_view::npos) nl = list.size();
    words.emplace_back(list.substr(pos, nl - pos));
    pos = nl + 1;
  }
  auto filter = WordFilter::build(words);
  check_filter(*filter, text);
  check_filter(*filter, out);
  return 0;
}
