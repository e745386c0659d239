#pragma once

// The browser client's files, served on the WebSocket port under /play/ from
// ws.web_root. Internal to shardd_net; no Beast here (unit-tested and fuzzed
// on its own).
//
// URL paths are mapped to files lexically: each segment must be a plain name
// ([A-Za-z0-9._~-], not starting with '.', at most 255 bytes, at most 16
// segments), so no request can name a file outside the root (no "..", no
// percent-escapes, no hidden files). Symbolic links inside the root are
// followed: the operator controls what the folder holds.

#include <cstdint>
#include <string>
#include <string_view>

namespace shardd::net {

// The URL prefix of the client (a trailing-slash folder).
inline constexpr std::string_view kPlayPrefix = "/play/";

struct StaticLookup {
  enum class Kind {
    kFile,         // `file` names a regular file to send
    kNotFound,     // 404
    kAddSlash,     // a folder named without its trailing slash: 301 to url + "/"
  };
  Kind kind = Kind::kNotFound;
  std::string file;          // absolute or root-relative path of the file
  std::string content_type;  // for kFile
  std::string etag;          // for kFile: W/"<size>-<mtime ns>", quoted
  uint64_t size = 0;         // for kFile
};

// Resolves `url_path` (the request target without its query; must start with
// kPlayPrefix) under `root`. A folder serves its index.html.
// Thread-safety: stateless; reads the file system.
StaticLookup lookup_static(const std::string& root, std::string_view url_path);

// Content-Type for a file name's extension (application/octet-stream when
// unknown). Text types carry charset=utf-8.
std::string_view content_type_for(std::string_view file_name);

// True if `if_none_match` (an If-None-Match header value: a list of entity
// tags, or "*") matches `etag`, comparing weakly (RFC 9110 section 13.1.2).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// True if a browser's Origin header names this server itself: scheme http
// (https when `tls`) and the authority the request was sent to (its Host
// header), compared ignoring case. The /play/ page is served from there, so
// its WebSocket needs no ws.allowed_origins entry.
bool same_origin(std::string_view origin, std::string_view host, bool tls);

// Headers every /play/ answer carries: a Content-Security-Policy that lets the
// page load only its own scripts, styles and images and talk only to this
// origin (WebSocket and HTTP), and no framing.
inline constexpr std::string_view kPlayCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

}  // namespace shardd::net
