// Blocking HTTP client and Prometheus text helpers for the integration tests.

#include <boost/beast/http.hpp>
#include <sstream>

#include "client_util.h"

namespace shardd::test {

using namespace client_util;  // NOLINT(google-build-using-namespace): internal helpers
namespace http = beast::http;

// ---------------------------------------------------------------- HTTP

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

HttpResponse http_get(uint16_t port, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers, Ms timeout) {
  return http_request("GET", port, target, "", headers, timeout);
}

HttpResponse http_request(const std::string& method, uint16_t port, const std::string& target,
                          const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          Ms timeout) {
  HttpResponse out;
  asio::io_context io;
  beast::tcp_stream stream(io);
  auto ec = open_and_connect(io, stream.socket(), port, "", 0, timeout);
  if (ec) {
    out.error = "connect: " + ec.message();
    return out;
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(method == "HEAD");  // a HEAD answer has headers only
  std::optional<beast::error_code> result;
  stream.expires_after(timeout);
  http::async_write(stream, req, [&](beast::error_code e, size_t) {
    if (e) {
      result = e;
      return;
    }
    http::async_read(stream, buf, parser, [&](beast::error_code e2, size_t) { result = e2; });
  });
  run_until(io, timeout + Ms(500), [&] { return result.has_value(); });
  if (!result || *result) {
    out.error = result ? result->message() : "timeout";
    return out;
  }
  auto& res = parser.get();
  out.status = res.result_int();
  out.body = res.body();
  out.headers = header_list(res.base());
  return out;
}

std::optional<double> metric_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      try {
        return std::stod(line.substr(series.size() + 1));
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

bool has_metric_family(const std::string& text, const std::string& family) {
  return text.find("# TYPE " + family + " ") != std::string::npos;
}

std::optional<double> scrape(uint16_t admin_port, const std::string& series) {
  auto r = http_get(admin_port, "/metrics");
  if (r.status != 200) return std::nullopt;
  return metric_value(r.body, series);
}

}  // namespace shardd::test
