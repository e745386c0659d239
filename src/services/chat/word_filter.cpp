#include "word_filter.h"

#include <algorithm>
#include <fstream>
#include <queue>

#include "shardd/core/utf8.h"

namespace shardd::chat {

char32_t normalize_char(char32_t c) {
  if (c >= 0xFF01 && c <= 0xFF5E) c -= 0xFEE0;  // full-width ASCII
  if (c == 0x3000) return ' ';
  if (c >= 'A' && c <= 'Z') return c + ('a' - 'A');
  if (c >= 'a' && c <= 'z') return c;
  switch (c) {
    case '0':
      return 'o';
    case '1':
    case '!':
    case '|':
      return 'i';
    case '3':
      return 'e';
    case '4':
    case '@':
      return 'a';
    case '5':
    case '$':
      return 's';
    case '7':
      return 't';
    case '.':
    case '-':
    case '_':
    case '*':
    case '\'':
    case '"':
    case '~':
    case '+':
    case '^':
    case ',':
      return 0;  // skipped inside words
    default:
      break;
  }
  if (c >= '0' && c <= '9') return c;
  if (c < 0x80) return ' ';  // other ASCII: a boundary
  // Latin-1 letters without their accents.
  if (c >= 0xC0 && c <= 0xFF && c != 0xD7 && c != 0xF7) {
    static constexpr char kLatin1[] =
        "aaaaaaaceeeeiiiidnooooo_ouuuuyts"   // C0-DF
        "aaaaaaaceeeeiiiidnooooo_ouuuuyty";  // E0-FF
    return static_cast<unsigned char>(kLatin1[c - 0xC0]);
  }
  if (c >= 0x0391 && c <= 0x03A9 && c != 0x03A2) return c + 0x20;  // Greek capitals
  if (c >= 0x0410 && c <= 0x042F) return c + 0x20;                 // Cyrillic capitals
  if (c >= 0x0400 && c <= 0x040F) return c + 0x50;
  return c;
}

namespace {

// Normalized code points of a list word (no skipped separators, no spaces at
// the ends).
std::u32string normalize_word(std::string_view w) {
  std::u32string out;
  utf8::for_each(w, [&](char32_t c) {
    char32_t n = normalize_char(c);
    if (n != 0) out.push_back(n);
  });
  while (!out.empty() && out.back() == ' ') out.pop_back();
  size_t lead = 0;
  while (lead < out.size() && out[lead] == ' ') ++lead;
  return out.substr(lead);
}

bool boundary(char32_t n) {
  return n == ' ';
}

}  // namespace

int32_t WordFilter::child(int32_t node, char32_t c) const {
  const auto& next = nodes_[static_cast<size_t>(node)].next;
  auto it = std::lower_bound(next.begin(), next.end(), c,
                             [](const auto& e, char32_t v) { return e.first < v; });
  return it != next.end() && it->first == c ? it->second : -1;
}

int32_t WordFilter::step(int32_t node, char32_t c) const {
  for (;;) {
    int32_t n = child(node, c);
    if (n >= 0) return n;
    if (node == 0) return 0;
    node = nodes_[static_cast<size_t>(node)].fail;
  }
}

std::shared_ptr<const WordFilter> WordFilter::build(const std::vector<std::string>& words) {
  auto f = std::shared_ptr<WordFilter>(new WordFilter());
  f->nodes_.emplace_back();
  for (const auto& raw : words) {
    std::string_view w = raw;
    while (!w.empty() && (w.front() == ' ' || w.front() == '\t')) w.remove_prefix(1);
    while (!w.empty() && (w.back() == ' ' || w.back() == '\t' || w.back() == '\r')) {
      w.remove_suffix(1);
    }
    if (w.empty() || w.front() == '#' || !utf8::valid(w)) continue;
    bool start = true;
    bool end = true;
    if (w.front() == '*') {
      start = false;
      w.remove_prefix(1);
    }
    if (!w.empty() && w.back() == '*') {
      end = false;
      w.remove_suffix(1);
    }
    std::u32string n = normalize_word(w);
    if (n.empty()) continue;
    int32_t node = 0;
    for (char32_t c : n) {
      int32_t next = f->child(node, c);
      if (next < 0) {
        next = static_cast<int32_t>(f->nodes_.size());
        auto& edges = f->nodes_[static_cast<size_t>(node)].next;
        edges.insert(std::lower_bound(edges.begin(), edges.end(), c,
                                      [](const auto& e, char32_t v) { return e.first < v; }),
                     {c, next});
        f->nodes_.emplace_back();
      }
      node = next;
    }
    Node& leaf = f->nodes_[static_cast<size_t>(node)];
    if (leaf.out >= 0) {
      // The same normalized word twice: the looser boundaries win.
      Pattern& p = f->patterns_[static_cast<size_t>(leaf.out)];
      p.start_boundary = p.start_boundary && start;
      p.end_boundary = p.end_boundary && end;
      continue;
    }
    leaf.out = static_cast<int32_t>(f->patterns_.size());
    f->patterns_.push_back({static_cast<uint32_t>(n.size()), start, end});
    ++f->words_;
  }
  // Failure and dictionary links, breadth first.
  std::queue<int32_t> q;
  for (const auto& [c, n] : f->nodes_[0].next) {
    f->nodes_[static_cast<size_t>(n)].fail = 0;
    q.push(n);
  }
  while (!q.empty()) {
    int32_t u = q.front();
    q.pop();
    for (const auto& [c, v] : f->nodes_[static_cast<size_t>(u)].next) {
      int32_t fail = f->step(f->nodes_[static_cast<size_t>(u)].fail, c);
      if (fail == v) fail = 0;
      Node& nv = f->nodes_[static_cast<size_t>(v)];
      nv.fail = fail;
      const Node& nf = f->nodes_[static_cast<size_t>(fail)];
      nv.dict_link = nf.out >= 0 ? fail : nf.dict_link;
      q.push(v);
    }
  }
  return f;
}

Status WordFilter::load(const std::string& path, std::vector<std::string>* words) {
  std::ifstream in(path);
  if (!in) return Status(ErrorCode::kNotFound, "cannot read word list '" + path + "'");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (++n > 100000) return Status::BadRequest("word list '" + path + "' has over 100000 lines");
    if (line.size() > 256) continue;
    words->push_back(line);
  }
  return Status::Ok();
}

std::vector<std::pair<size_t, size_t>> WordFilter::find(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> found;
  if (words_ == 0) return found;
  // The normalized stream, with each kept code point's byte range.
  struct Pos {
    char32_t n;
    uint32_t begin;
    uint32_t end;
  };
  std::vector<Pos> s;
  s.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t b = i;
    char32_t n = normalize_char(utf8::detail::next(text, i));
    if (n == 0) continue;
    if (n == ' ' && !s.empty() && s.back().n == ' ') continue;
    s.push_back({n, static_cast<uint32_t>(b), static_cast<uint32_t>(i)});
  }
  int32_t node = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    node = step(node, s[i].n);
    for (int32_t m = nodes_[static_cast<size_t>(node)].out >= 0
                         ? node
                         : nodes_[static_cast<size_t>(node)].dict_link;
         m >= 0; m = nodes_[static_cast<size_t>(m)].dict_link) {
      const Pattern& p = patterns_[static_cast<size_t>(nodes_[static_cast<size_t>(m)].out)];
      size_t first = i + 1 - p.length;
      if (p.start_boundary && first > 0 && !boundary(s[first - 1].n)) continue;
      if (p.end_boundary && i + 1 < s.size() && !boundary(s[i + 1].n)) continue;
      size_t b = s[first].begin;
      size_t e = s[i].end;
      // Merge with an overlapping earlier match.
      while (!found.empty() && found.back().second > b) {
        b = std::min(b, found.back().first);
        e = std::max(e, found.back().second);
        found.pop_back();
      }
      found.emplace_back(b, e);
    }
  }
  return found;
}

std::string WordFilter::mask(std::string_view text,
                             const std::vector<std::pair<size_t, size_t>>& ranges) const {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (const auto& [b, e] : ranges) {
    out.append(text.substr(at, b - at));
    for (size_t i = b; i < e;) {
      char32_t c = utf8::detail::next(text, i);
      if (c == ' ') {
        out.push_back(' ');
      } else {
        out.push_back('*');
      }
    }
    at = e;
  }
  out.append(text.substr(at));
  return out;
}

}  // namespace shardd::chat
