#pragma once

// The HTTP front of a WebSocket listener: TLS handshake (wss), HTTP requests,
// then either the upgrade into a WsConnection or plain answers (/healthz, the
// browser client under /play/, refusals). Plain answers keep the connection
// open (HTTP/1.1 keep-alive) for up to kMaxRequests requests, each to arrive
// within the handshake timeout; refusals close it. Internal to shardd_net. Each Stream type is
// instantiated in its own translation unit (ws_accept_plain.cpp,
// ws_accept_tls.cpp) so the heavy Beast templates compile in parallel.

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <optional>
#include <string>

#include "internal.h"
#include "static_files.h"
#include "ws_connection.h"
#include "shardd/core/log.h"

namespace shardd::net {

namespace ws_front {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

inline spdlog::logger& ws_front_log() {
  static spdlog::logger& l = log::get("net");
  return l;
}

template <class Stream>
class HttpFront : public std::enable_shared_from_this<HttpFront<Stream>> {
 public:
  using Env = WsFrontEnv;

  HttpFront(Env& env, Stream&& stream, std::optional<ConnectionLimiter::Slot> slot, std::string ip,
            uint16_t port)
      : env_(env),
        stream_(std::move(stream)),
        slot_(std::move(slot)),
        ip_(std::move(ip)),
        port_(port),
        refusing_(!slot_) {}

  ~HttpFront() {
    if (refusing_) env_.shared.limiter->end_refusal();
  }

  void run() {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    if constexpr (!std::is_same_v<Stream, TcpStream>) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->fail("TLS handshake", ec);
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

 private:
  std::chrono::milliseconds handshake_timeout() const {
    return std::chrono::milliseconds(
        env_.shared.limits.handshake_timeout_ms.load(std::memory_order_relaxed));
  }

  // Requests one connection may make before it is closed (a page load makes
  // a handful; a client that wants more opens another connection).
  static constexpr int kMaxRequests = 100;

  void do_read() {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(0);
    http::async_read(stream_, buf_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void fail(const char* what, beast::error_code ec) {
    env_.metrics.handshake_failed.inc();
    ws_front_log().debug("{} {}:{} {} failed: {}", "ws", ip_, port_, what, ec.message());
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  void on_read(beast::error_code ec) {
    keep_alive_ = false;  // until a plain GET answer says otherwise
    if (ec == http::error::header_limit) {
      env_.metrics.handshake_failed.inc();
      return respond(http::status::request_header_fields_too_large,
                     "request headers over 8 KiB\n");
    }
    if (ec == http::error::body_limit) {
      return respond(http::status::payload_too_large, "request bodies are not accepted here\n");
    }
    if (ec) {
      // A kept-alive connection the client lets go idle, or closes, after
      // its last answer is not a failed handshake.
      if (requests_ > 0 && (ec == http::error::end_of_stream || ec == beast::error::timeout)) {
        beast::get_lowest_layer(stream_).socket().close(ec);
        return;
      }
      return fail("HTTP request", ec);
    }
    auto req = parser_->release();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req)) {
      if (path != env_.path) return respond(http::status::not_found, "no websocket at this path\n");
      if (!slot_) return respond(http::status::service_unavailable, "TOO_MANY_CONNECTIONS\n");
      auto origin = req[http::field::origin];
      bool tls = !std::is_same_v<Stream, TcpStream>;
      if (!origin.empty() && !same_origin(origin, req[http::field::host], tls) &&
          !env_.origin_allowed(origin)) {
        ws_front_log().info("ws {}:{} origin '{}' not allowed", ip_, port_, std::string(origin));
        return respond(http::status::forbidden, "origin not allowed\n");
      }
      auto conn = std::make_shared<WsConnection<Stream>>(
          env_.shared, env_.metrics, std::move(*slot_), !std::is_same_v<Stream, TcpStream>, ip_,
          port_, std::move(stream_));
      slot_.reset();
      conn->run(std::move(req), WsOptions{env_.permessage_deflate});
      return;
    }
    bool head = req.method() == http::verb::head;
    ++requests_;
    keep_alive_ = req.keep_alive() && !refusing_ && requests_ < kMaxRequests;
    if (req.method() != http::verb::get && !head) {
      keep_alive_ = false;
      return respond(http::status::method_not_allowed, "method not allowed\n");
    }
    if (path == "/healthz") return respond(http::status::ok, "ok\n", head);
    if (path == "/" || path == "/play" || path.substr(0, kPlayPrefix.size()) == kPlayPrefix) {
      return serve_play(req, path, head);
    }
    respond(http::status::not_found, "not found\n", head);
  }

  // The browser client: `/` and `/play` lead to `/play/`; files come from
  // ws.web_root with an ETag (revalidated on every load: Cache-Control
  // no-cache, so an upgrade shows at once) and the client's CSP.
  void serve_play(const http::request<http::empty_body>& req, std::string_view path, bool head) {
    if (env_.web_root.empty()) {
      return respond(http::status::not_found,
                     "no browser client is served here (ws.web_root is not set)\n", head);
    }
    if (path == "/" || path == "/play") return redirect(http::status::found, "/play/");
    StaticLookup f = lookup_static(env_.web_root, path);
    if (f.kind == StaticLookup::Kind::kAddSlash) {
      return redirect(http::status::moved_permanently, std::string(path) + "/");
    }
    if (f.kind != StaticLookup::Kind::kFile) return respond(http::status::not_found, "not found\n", head);
    auto inm = req[http::field::if_none_match];
    if (!inm.empty() && etag_matches(inm, f.etag)) {
      res_.emplace(http::status::not_modified, 11);
      play_headers(*res_, f.etag);
      return write(*res_);
    }
    beast::error_code ec;
    http::file_body::value_type body;
    body.open(f.file.c_str(), beast::file_mode::scan, ec);
    if (ec) return respond(http::status::not_found, "not found\n", head);
    file_res_.emplace(http::status::ok, 11);
    play_headers(*file_res_, f.etag);
    file_res_->set(http::field::content_type, f.content_type);
    if (head) {
      file_res_->content_length(f.size);
    } else {
      file_res_->body() = std::move(body);
      file_res_->prepare_payload();
    }
    write(*file_res_);
  }

  template <class Res>
  void play_headers(Res& res, const std::string& etag) {
    common_headers(res);
    res.set(http::field::etag, etag);
    res.set(http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", kPlayCsp);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
  }

  template <class Res>
  void common_headers(Res& res) {
    res.set(http::field::server, std::string(kServerName) + "/" + kVersion);
    res.keep_alive(keep_alive_);
  }

  void redirect(http::status status, std::string location) {
    res_.emplace(status, 11);
    common_headers(*res_);
    res_->set(http::field::location, location);
    res_->set(http::field::content_type, "text/plain");
    res_->body() = "see " + location + "\n";
    res_->prepare_payload();
    write(*res_);
  }

  // `head`: the answer to a HEAD request (headers of the GET answer, no body).
  void respond(http::status status, std::string body, bool head = false) {
    if (status != http::status::ok && status != http::status::not_found) keep_alive_ = false;
    res_.emplace(status, 11);
    common_headers(*res_);
    res_->set(http::field::content_type, "text/plain");
    if (head) {
      res_->content_length(body.size());
    } else {
      res_->body() = std::move(body);
      res_->prepare_payload();
    }
    write(*res_);
  }

  // Writes the answer, then reads the next request or closes.
  template <class Res>
  void write(Res& res) {
    beast::get_lowest_layer(stream_).expires_after(handshake_timeout());
    http::async_write(stream_, res,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->res_.reset();
                        self->file_res_.reset();
                        if (!ec && self->keep_alive_) return self->do_read();
                        beast::get_lowest_layer(self->stream_)
                            .socket()
                            .shutdown(tcp::socket::shutdown_send, ec);
                        beast::get_lowest_layer(self->stream_).socket().close(ec);
                      });
  }

  Env& env_;
  Stream stream_;
  std::optional<ConnectionLimiter::Slot> slot_;  // empty: refusing (over the limit)
  std::string ip_;
  uint16_t port_;
  const bool refusing_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::file_body>> file_res_;
  bool keep_alive_ = false;
  int requests_ = 0;
};

}  // namespace ws_front

// Start the front for one accepted socket (on its executor). See start_ws.
void start_ws_plain(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                    std::string ip, uint16_t port);
void start_ws_tls(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                  std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace shardd::net
