#include "static_files.h"

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <utility>

namespace shardd::net {
namespace {

constexpr size_t kMaxSegments = 16;
constexpr size_t kMaxSegmentBytes = 255;

bool plain_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxSegmentBytes || s[0] == '.') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '~';
    if (!ok) return false;
  }
  return true;
}

bool stat_path(const std::string& path, struct stat* st) { return ::stat(path.c_str(), st) == 0; }

StaticLookup file_result(std::string path, const struct stat& st) {
  StaticLookup r;
  r.kind = StaticLookup::Kind::kFile;
  r.size = static_cast<uint64_t>(st.st_size);
  auto mtime_ns = static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ull +
                  static_cast<unsigned long long>(st.st_mtim.tv_nsec);
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "W/\"%llx-%llx\"",
                static_cast<unsigned long long>(r.size), mtime_ns);
  r.etag = buf.data();
  r.content_type = std::string(content_type_for(path));
  r.file = std::move(path);
  return r;
}

}  // namespace

StaticLookup lookup_static(const std::string& root, std::string_view url_path) {
  StaticLookup none;
  if (root.empty() || url_path.substr(0, kPlayPrefix.size()) != kPlayPrefix) return none;
  std::string_view rest = url_path.substr(kPlayPrefix.size());
  std::string path = root;
  size_t segments = 0;
  bool folder = true;  // "" or a trailing slash names a folder
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (!plain_name(seg) || ++segments > kMaxSegments) return none;
    path += '/';
    path += seg;
    folder = slash != std::string_view::npos;
    rest = folder ? rest.substr(slash + 1) : std::string_view();
    if (folder && rest.empty()) break;
  }
  struct stat st {};
  if (!stat_path(path, &st)) return none;
  if (S_ISDIR(st.st_mode)) {
    if (!folder) {
      StaticLookup r;
      r.kind = StaticLookup::Kind::kAddSlash;
      return r;
    }
    path += "/index.html";
    if (!stat_path(path, &st)) return none;
  } else if (folder) {
    return none;  // "file.js/" names no folder
  }
  if (!S_ISREG(st.st_mode)) return none;
  return file_result(std::move(path), st);
}

std::string_view content_type_for(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".wasm", "application/wasm"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

bool same_origin(std::string_view origin, std::string_view host, bool tls) {
  std::string_view scheme = tls ? "https://" : "http://";
  if (host.empty() || origin.size() != scheme.size() + host.size()) return false;
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (lower(origin[i]) != scheme[i]) return false;
  }
  for (size_t i = 0; i < host.size(); ++i) {
    if (lower(origin[scheme.size() + i]) != lower(host[i])) return false;
  }
  return true;
}

bool etag_matches(std::string_view header, std::string_view etag) {
  auto opaque = [](std::string_view t) {
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);
    return t;
  };
  std::string_view want = opaque(etag);
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*" || (!item.empty() && opaque(item) == want)) return true;
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
  }
  return false;
}

}  // namespace shardd::net
