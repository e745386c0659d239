#include "shardd/net/net_server.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <openssl/ssl.h>

#include "net/internal.h"
#include "net/tcp_connection.h"
#include "net/ws_connection.h"
#include "shardd/core/log.h"
#include "shardd/net/listener.h"

namespace shardd::net {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("net");
  return l;
}

Status make_tls_context(const TlsConfig& cfg, std::shared_ptr<ssl::context>* out) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                       ssl::context::no_compression,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native,
                                cfg.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);  // idle connections keep no buffers
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  ctx->use_certificate_chain_file(cfg.cert_file, ec);
  if (ec) return Status::BadRequest("tls.cert_file " + cfg.cert_file + ": " + ec.message());
  ctx->use_private_key_file(cfg.key_file, ssl::context::pem, ec);
  if (ec) return Status::BadRequest("tls.key_file " + cfg.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return Status::BadRequest("tls.key_file does not match tls.cert_file");
  }
  *out = std::move(ctx);
  return Status::Ok();
}

std::string peer_ip(const Socket& s, uint16_t* port) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  *port = ep.port();
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  return addr.to_string();
}

}  // namespace

// Reads the HTTP request on the WebSocket port (after TLS, if any) within the
// handshake timeout, then upgrades to a WsConnection, answers /healthz, or
// refuses. Stream: TcpStream or TlsStream.
struct WsFrontEnv {
  NetShared& shared;
  TransportMetrics& metrics;
  std::function<bool(std::string_view origin)> origin_allowed;
  std::string path;
  WsOptions options;
};

template <class Stream>
class HttpFront : public std::enable_shared_from_this<HttpFront<Stream>> {
 public:
  using Env = WsFrontEnv;

  HttpFront(Env& env, Stream&& stream, std::optional<ConnectionLimiter::Slot> slot,
            std::string ip, uint16_t port)
      : env_(env), stream_(std::move(stream)), slot_(std::move(slot)), ip_(std::move(ip)),
        port_(port), refusing_(!slot_) {}

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
    lg().debug("{} {}:{} {} failed: {}", "ws", ip_, port_, what, ec.message());
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail("HTTP request", ec);
    auto req = parser_->release();
    std::string_view target = req.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req)) {
      if (path != env_.path) return respond(http::status::not_found, "no websocket at this path\n");
      if (!slot_) return respond(http::status::service_unavailable, "TOO_MANY_CONNECTIONS\n");
      auto origin = req[http::field::origin];
      if (!origin.empty() && !env_.origin_allowed(origin)) {
        lg().info("ws {}:{} origin '{}' not allowed", ip_, port_, std::string(origin));
        return respond(http::status::forbidden, "origin not allowed\n");
      }
      auto conn = std::make_shared<WsConnection<Stream>>(
          env_.shared, env_.metrics, std::move(*slot_), !std::is_same_v<Stream, TcpStream>,
          ip_, port_, std::move(stream_));
      slot_.reset();
      conn->run(std::move(req), env_.options);
      return;
    }
    if (req.method() == http::verb::get && path == "/healthz") {
      return respond(http::status::ok, "ok\n");
    }
    respond(http::status::not_found, "not found\n");
  }

  void respond(http::status status, std::string body) {
    res_.emplace(status, 11);
    res_->set(http::field::server, std::string(kServerName) + "/" + kVersion);
    res_->set(http::field::content_type, "text/plain");
    res_->set(http::field::connection, "close");
    res_->body() = std::move(body);
    res_->prepare_payload();
    http::async_write(stream_, *res_,
                      [self = this->shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ec;
                        beast::get_lowest_layer(self->stream_).socket().shutdown(
                            tcp::socket::shutdown_send, ec);
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

class NetServer::Impl {
 public:
  Impl(const Config& config, LiveLimits& limits, IoPool& io, metrics::Registry& metrics,
       HandlerFactory factory)
      : config_(config),
        io_(io),
        metrics_(metrics),
        shared_{limits, std::move(factory), std::make_shared<ConnectionLimiter>(limits)},
        origins_(config.ws.allowed_origins) {}

  Status open() {
    if ((config_.ws.enabled && config_.ws.tls) || (config_.tcp.enabled && config_.tcp.tls)) {
      Status st = make_tls_context(config_.tls, &tls_);
      if (!st.ok()) return st;
    }
    if (config_.ws.enabled) {
      const bool tls = config_.ws.tls;
      ws_metrics_ = std::make_unique<TransportMetrics>(metrics_, tls ? "wss" : "ws");
      ws_env_ = std::make_unique<WsFrontEnv>(WsFrontEnv{
          shared_, *ws_metrics_, [this](std::string_view o) { return origin_allowed(o); },
          config_.ws.path, WsOptions{config_.ws.permessage_deflate}});
      ws_listener_ = std::make_shared<Listener>(
          io_.context(0), io_, tls ? "wss" : "ws",
          [this, tls](Socket s) { accept_ws(std::move(s), tls); });
      Status st = ws_listener_->open(config_.ws.bind, static_cast<uint16_t>(config_.ws.port));
      if (!st.ok()) return st;
    }
    if (config_.tcp.enabled) {
      const bool tls = config_.tcp.tls;
      tcp_metrics_ = std::make_unique<TransportMetrics>(metrics_, tls ? "tls" : "tcp");
      tcp_listener_ = std::make_shared<Listener>(
          io_.context(0), io_, tls ? "tls" : "tcp",
          [this, tls](Socket s) { accept_tcp(std::move(s), tls); });
      Status st = tcp_listener_->open(config_.tcp.bind, static_cast<uint16_t>(config_.tcp.port));
      if (!st.ok()) return st;
    }
    return Status::Ok();
  }

  void start() {
    if (ws_listener_) {
      ws_listener_->start();
      lg().info("listening {} on {}:{}{}", ws_listener_->name(), config_.ws.bind,
                ws_listener_->port(), config_.ws.path);
    }
    if (tcp_listener_) {
      tcp_listener_->start();
      lg().info("listening {} on {}:{}", tcp_listener_->name(), config_.tcp.bind,
                tcp_listener_->port());
    }
  }

  void stop_accepting() {
    auto stop = [](const std::shared_ptr<Listener>& l, asio::io_context& ctx) {
      if (!l) return;
      std::promise<void> done;
      auto fut = done.get_future();
      asio::post(ctx, [l, &done] {
        l->stop();
        done.set_value();
      });
      fut.wait();
    };
    stop(ws_listener_, io_.context(0));
    stop(tcp_listener_, io_.context(0));
  }

  Status reload(const Config& c) {
    std::shared_ptr<ssl::context> fresh;
    if (tls_) {
      Status st = make_tls_context(c.tls, &fresh);
      if (!st.ok()) return st;
    }
    std::lock_guard lock(mu_);
    origins_ = c.ws.allowed_origins;
    if (fresh) tls_ = std::move(fresh);
    return Status::Ok();
  }

  uint16_t ws_port() const { return ws_listener_ ? ws_listener_->port() : 0; }
  uint16_t tcp_port() const { return tcp_listener_ ? tcp_listener_->port() : 0; }
  int64_t live() const { return shared_.live_connections.load(); }
  void when_drained(std::function<void()> cb) {
    {
      std::lock_guard lock(shared_.drained_mu);
      if (shared_.live_connections.load(std::memory_order_acquire) > 0) {
        shared_.on_drained = std::move(cb);
        return;
      }
    }
    cb();
  }

 private:
  bool origin_allowed(std::string_view origin) {
    std::lock_guard lock(mu_);
    if (origins_.empty()) return true;
    for (const auto& o : origins_) {
      if (o == origin) return true;
    }
    return false;
  }

  std::shared_ptr<ssl::context> tls_context() {
    std::lock_guard lock(mu_);
    return tls_;
  }

  // Admission: a slot, a refusal (answered politely), or a drop (too many refusals).
  bool admit(Socket& s, TransportMetrics& m, std::string* ip, uint16_t* port,
             std::optional<ConnectionLimiter::Slot>* slot) {
    *ip = peer_ip(s, port);
    m.accepted.inc();
    const char* reason = nullptr;
    *slot = shared_.limiter->try_acquire(*ip, &reason);
    if (*slot) return true;
    m.refused_limit.inc();
    lg().warn("refusing {}:{}: {} reached", *ip, *port, reason);
    if (!shared_.limiter->begin_refusal()) {
      boost::system::error_code ec;
      s.close(ec);
      return false;
    }
    return true;
  }

  void accept_ws(Socket s, bool tls) {
    std::string ip;
    uint16_t port = 0;
    std::optional<ConnectionLimiter::Slot> slot;
    if (!admit(s, *ws_metrics_, &ip, &port, &slot)) return;
    s.set_option(tcp::no_delay(true));
    auto ex = s.get_executor();
    if (tls) {
      using Stream = TlsStream;
      auto ctx = tls_context();
      auto front = std::make_shared<HttpFront<Stream>>(
          *ws_env_,
          Stream(TcpStream(std::move(s)), *ctx), std::move(slot), std::move(ip), port);
      asio::post(ex, [front, ctx] { front->run(); });
    } else {
      auto front = std::make_shared<HttpFront<TcpStream>>(
          *ws_env_, TcpStream(std::move(s)), std::move(slot), std::move(ip), port);
      asio::post(ex, [front] { front->run(); });
    }
  }

  void accept_tcp(Socket s, bool tls) {
    std::string ip;
    uint16_t port = 0;
    std::optional<ConnectionLimiter::Slot> slot;
    if (!admit(s, *tcp_metrics_, &ip, &port, &slot)) return;
    s.set_option(tcp::no_delay(true));
    std::optional<Status> refuse;
    if (!slot) {
      refuse = Status(ErrorCode::kTooManyConnections, "connection limit reached");
    }
    auto ex = s.get_executor();
    ConnectionLimiter::Slot real = slot ? std::move(*slot) : ConnectionLimiter::Slot();
    bool refusing = !real;
    auto limiter = shared_.limiter;
    if (tls) {
      using Stream = ssl::stream<Socket>;
      auto ctx = tls_context();
      auto conn = std::make_shared<TcpConnection<Stream>>(shared_, *tcp_metrics_, std::move(real),
                                                          ip, port, Stream(std::move(s), *ctx));
      asio::post(ex, [conn, ctx, refuse, refusing, limiter] {
        conn->run(refuse);
        if (refusing) limiter->end_refusal();
      });
    } else {
      auto conn = std::make_shared<TcpConnection<Socket>>(shared_, *tcp_metrics_,
                                                               std::move(real), ip, port,
                                                               std::move(s));
      asio::post(ex, [conn, refuse, refusing, limiter] {
        conn->run(refuse);
        if (refusing) limiter->end_refusal();
      });
    }
  }

  Config config_;
  IoPool& io_;
  metrics::Registry& metrics_;
  NetShared shared_;
  std::unique_ptr<TransportMetrics> ws_metrics_;
  std::unique_ptr<TransportMetrics> tcp_metrics_;
  std::unique_ptr<WsFrontEnv> ws_env_;
  std::shared_ptr<Listener> ws_listener_;
  std::shared_ptr<Listener> tcp_listener_;

  std::mutex mu_;
  // Guarded by mu_:
  std::vector<std::string> origins_;
  std::shared_ptr<ssl::context> tls_;
};

NetServer::NetServer(const Config& config, LiveLimits& limits, IoPool& io,
                     metrics::Registry& metrics, HandlerFactory factory)
    : impl_(std::make_unique<Impl>(config, limits, io, metrics, std::move(factory))) {}
NetServer::~NetServer() = default;
Status NetServer::open() { return impl_->open(); }
void NetServer::start() { impl_->start(); }
void NetServer::stop_accepting() { impl_->stop_accepting(); }
Status NetServer::reload(const Config& config) { return impl_->reload(config); }
uint16_t NetServer::ws_port() const { return impl_->ws_port(); }
uint16_t NetServer::tcp_port() const { return impl_->tcp_port(); }
int64_t NetServer::live_connections() const { return impl_->live(); }
void NetServer::when_drained(std::function<void()> cb) { impl_->when_drained(std::move(cb)); }

}  // namespace shardd::net
