#pragma once

// The HTTP front of a WebSocket listener: TLS handshake (wss), the HTTP
// request, then either the upgrade into a WsConnection or a plain answer
// (/healthz, refusals). Internal to shardd_net. Each Stream type is
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

  void do_read() {
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
    if (ec == http::error::header_limit) {
      env_.metrics.handshake_failed.inc();
      return respond(http::status::request_header_fields_too_large,
                     "request headers over 8 KiB\n");
    }
    if (ec) return fail("HTTP request", ec);
    auto req = parser_->release();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req)) {
      if (path != env_.path) return respond(http::status::not_found, "no websocket at this path\n");
      if (!slot_) return respond(http::status::service_unavailable, "TOO_MANY_CONNECTIONS\n");
      auto origin = req[http::field::origin];
      if (!origin.empty() && !env_.origin_allowed(origin)) {
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
    if ((req.method() == http::verb::get || head) && path == "/healthz") {
      return respond(http::status::ok, "ok\n", head);
    }
    respond(http::status::not_found, "not found\n", head);
  }

  // `head`: the answer to a HEAD request (headers of the GET answer, no body).
  void respond(http::status status, std::string body, bool head = false) {
    res_.emplace(status, 11);
    res_->set(http::field::server, std::string(kServerName) + "/" + kVersion);
    res_->set(http::field::content_type, "text/plain");
    res_->set(http::field::connection, "close");
    if (head) {
      res_->content_length(body.size());
    } else {
      res_->body() = std::move(body);
      res_->prepare_payload();
    }
    http::async_write(
        stream_, *res_, [self = this->shared_from_this()](beast::error_code, std::size_t) {
          beast::error_code ec;
          beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
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
};

}  // namespace ws_front

// Start the front for one accepted socket (on its executor). See start_ws.
void start_ws_plain(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                    std::string ip, uint16_t port);
void start_ws_tls(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
                  std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace shardd::net
