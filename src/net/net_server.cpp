#include "shardd/net/net_server.h"

#include <boost/asio/ssl.hpp>
#include <future>
#include <openssl/ssl.h>

#include "internal.h"
#include "rt_transport.h"
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
          config_.ws.path, config_.ws.permessage_deflate, config_.ws.web_root});
      if (config_.http.enabled) {
        rt_metrics_ = std::make_unique<TransportMetrics>(metrics_, tls ? "https" : "http");
        rt_registry_ = std::make_unique<RtRegistry>(shared_.limits);
        ws_env_->rt = rt_registry_.get();
        ws_env_->rt_metrics = rt_metrics_.get();
      }
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
      lg().info("listening {} on {}:{}{}{}", ws_listener_->name(), config_.ws.bind,
                ws_listener_->port(), config_.ws.path, rt_registry_ ? " and /rt/" : "");
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
    start_ws(*ws_env_, std::move(s), std::move(slot), std::move(ip), port,
             tls ? tls_context() : nullptr);
  }

  void accept_tcp(Socket s, bool tls) {
    std::string ip;
    uint16_t port = 0;
    std::optional<ConnectionLimiter::Slot> slot;
    if (!admit(s, *tcp_metrics_, &ip, &port, &slot)) return;
    s.set_option(tcp::no_delay(true));
    start_tcp(shared_, *tcp_metrics_, std::move(s),
              slot ? std::move(*slot) : ConnectionLimiter::Slot(), std::move(ip), port,
              tls ? tls_context() : nullptr);
  }

  Config config_;
  IoPool& io_;
  metrics::Registry& metrics_;
  NetShared shared_;
  std::unique_ptr<TransportMetrics> ws_metrics_;
  std::unique_ptr<TransportMetrics> tcp_metrics_;
  std::unique_ptr<TransportMetrics> rt_metrics_;
  std::unique_ptr<RtRegistry> rt_registry_;  // outlives the transports (drained first)
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
