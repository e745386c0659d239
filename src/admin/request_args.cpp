#include "request_args.h"

#include <algorithm>
#include <charconv>

namespace shardd::admin {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void add_query(std::string_view query, const args::Schema& schema, nlohmann::json* out) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == 0 || pair.empty()) continue;
    std::string key = unescape_query(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : unescape_query(pair.substr(eq + 1));
    bool integer_field = std::any_of(schema.begin(), schema.end(), [&](const args::Field& f) {
      return f.name == key && f.type == args::Type::kInt;
    });
    int64_t n = 0;
    auto r = std::from_chars(value.data(), value.data() + value.size(), n);
    bool is_int = !value.empty() && r.ec == std::errc() && r.ptr == value.data() + value.size();
    (*out)[key] = integer_field && is_int ? nlohmann::json(n) : nlohmann::json(value);
  }
}

}  // namespace

std::string unescape_query(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

Status request_args(std::string_view body, std::string_view query, const args::Schema& schema,
                    nlohmann::json* out) {
  *out = nlohmann::json::object();
  if (!body.empty()) {
    *out = nlohmann::json::parse(body, nullptr, false);
    if (out->is_discarded() || !out->is_object()) {
      return Status::BadRequest("body must be a JSON object");
    }
  }
  add_query(query, schema, out);
  return args::check(*out, schema);
}

}  // namespace shardd::admin
