#include "shardd/admin/admin_server.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <future>
#include <map>
#include <mutex>
#include <optional>

#include "request_args.h"
#include "shardd/core/barrier.h"
#include "shardd/core/log.h"
#include "shardd/net/listener.h"
#include "shardd/version.h"

namespace shardd::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Stream = beast::basic_stream<asio::ip::tcp, asio::io_context::executor_type>;

namespace {
constexpr int kMaxConnections = 64;
constexpr auto kRequestTimeout = std::chrono::seconds(10);

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("admin");
  return l;
}
}  // namespace

class AdminServer::Impl : public std::enable_shared_from_this<AdminServer::Impl> {
 public:
  Impl(const Config& config, IoPool& io, metrics::Registry& metrics, Hooks hooks)
      : config_(config.admin),
        io_(io),
        metrics_(metrics),
        hooks_(std::move(hooks)),
        requests_(metrics.counter("shardd_admin_requests_total", "Admin HTTP requests.")),
        denied_(metrics.counter("shardd_admin_denied_total",
                                "Admin HTTP requests refused for a missing or wrong token.")) {}

  Status open() {
    std::weak_ptr<Impl> weak = shared_from_this();
    listener_ =
        std::make_shared<net::Listener>(io_.context(0), io_, "admin", [weak](net::Socket s) {
          if (auto self = weak.lock()) {
            self->accept(std::move(s));
          }
        });
    return listener_->open(config_.bind, static_cast<uint16_t>(config_.port));
  }
  void start() {
    listener_->start();
    lg().info("admin HTTP on {}:{}", config_.bind, listener_->port());
  }
  void stop() {
    if (!listener_) return;
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(io_.context(0), [l = listener_, &done] {
      l->stop();
      done.set_value();
    });
    fut.wait();
  }
  void reload(const Config& c) {
    std::lock_guard lock(mu_);
    config_.token = c.admin.token;
    config_.metrics_require_token = c.admin.metrics_require_token;
  }
  uint16_t port() const { return listener_ ? listener_->port() : 0; }

  using Response = http::response<http::string_body>;
  using Done = std::function<void(Response)>;

  void add_route(std::string method, std::string path, args::Schema schema, RouteHandler h) {
    std::string key = method + " " + path;
    routes_[key] = Route{std::move(method), std::move(path), std::move(schema), std::move(h)};
  }
  void set_ops_source(std::function<nlohmann::json()> ops) { ops_ = std::move(ops); }

  // Answers one request: calls `done` exactly once, on this thread for
  // built-in paths or from the handler's thread for added routes.
  void handle(const http::request<http::string_body>& req, Done done) {
    requests_.inc();
    std::string_view target = req.target();
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    bool head = req.method() == http::verb::head;
    auto make = [version, keep_alive, head](http::status st, std::string body, const char* type) {
      Response res{st, version};
      res.set(http::field::server, std::string(kServerName) + "/" + kVersion);
      res.set(http::field::content_type, type);
      res.keep_alive(keep_alive);
      if (head) {
        res.content_length(body.size());  // what GET would send, without the body
      } else {
        res.body() = std::move(body);
        res.prepare_payload();
      }
      return res;
    };
    auto reply = [&](http::status st, std::string body, const char* type) {
      done(make(st, std::move(body), type));
    };
    auto reply_json = [&](http::status st, const nlohmann::json& j) {
      reply(st, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
            "application/json");
    };
    // Answers 403 (no admin.token configured) or 401 (wrong or missing
    // bearer token) and returns true; false lets the request through.
    auto refuse_admin = [&](const std::string& token) {
      if (token.empty()) {
        reply(http::status::forbidden, "admin API disabled: set admin.token\n", "text/plain");
        return true;
      }
      if (!authorized(req, token)) {
        denied_.inc();
        reply(http::status::unauthorized, "token required\n", "text/plain");
        return true;
      }
      return false;
    };
    std::string token;
    bool need_token;
    {
      std::lock_guard lock(mu_);
      token = config_.token;
      need_token = config_.metrics_require_token;
    }
    std::string method(req.method_string());
    if (head) method = "GET";
    if (auto it = routes_.find(method + " " + std::string(path)); it != routes_.end()) {
      if (refuse_admin(token)) return;
      const Route& route = it->second;
      nlohmann::json body;
      if (Status st = request_args(req.body(), query, route.schema, &body); !st.ok()) {
        return reply_json(http::status::bad_request, {{"error", st.message()}});
      }
      std::string label = route.method + " " + route.path;
      auto responder = std::make_shared<Responder>(std::move(done), make);
      barrier::OpScope scope(label);
      if (!barrier::run(&metrics_, label, "admin route", [&] {
            route.handler(
                body, [responder](int status, nlohmann::json j) { responder->send(status, j); });
          })) {
        responder->send(500, {{"error", "internal error"}});
      }
      return;
    }
    if (req.method() != http::verb::get && !head) {
      return reply(http::status::method_not_allowed, "GET only\n", "text/plain");
    }
    if (path == "/healthz") return reply(http::status::ok, "ok\n", "text/plain");
    if (path == "/readyz") {
      bool ready = hooks_.ready && hooks_.ready();
      return reply(ready ? http::status::ok : http::status::service_unavailable,
                   ready ? "ready\n" : "not ready\n", "text/plain");
    }
    if (path == "/metrics") {
      if (need_token && !authorized(req, token)) {
        denied_.inc();
        return reply(http::status::unauthorized, "token required\n", "text/plain");
      }
      return reply(http::status::ok, metrics_.render(), "text/plain; version=0.0.4");
    }
    if (path.rfind("/admin/", 0) == 0) {
      if (refuse_admin(token)) return;
      if (path == "/admin/status") {
        return reply_json(http::status::ok,
                          hooks_.status ? hooks_.status() : nlohmann::json::object());
      }
      if (path == "/admin/ops") return reply_json(http::status::ok, describe());
    }
    return reply(http::status::not_found, "not found\n", "text/plain");
  }

  // GET /admin/ops: {"ops": [...client ops...], "admin": [{method, path, args}]}.
  nlohmann::json describe() const {
    nlohmann::json admin = nlohmann::json::array();
    for (const auto& [key, r] : routes_) {
      admin.push_back({{"method", r.method}, {"path", r.path}, {"args", args::describe(r.schema)}});
    }
    return {{"ops", ops_ ? ops_() : nlohmann::json::array()}, {"admin", std::move(admin)}};
  }

 private:
  struct Route {
    std::string method;
    std::string path;
    args::Schema schema;
    RouteHandler handler;
  };

  // Answers an added route once; if the handler never answers (it dropped
  // the Respond, or threw), the destructor answers 500.
  class Responder {
   public:
    using Make = std::function<Response(http::status, std::string, const char*)>;
    Responder(Done done, Make make) : done_(std::move(done)), make_(std::move(make)) {}
    ~Responder() { send(500, {{"error", "internal error: no reply"}}); }
    void send(int status, const nlohmann::json& j) {
      if (sent_.exchange(true)) return;
      done_(make_(static_cast<http::status>(status),
                  j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                  "application/json"));
    }

   private:
    Done done_;
    Make make_;
    std::atomic<bool> sent_{false};
  };

  // "Bearer <token>"; the scheme is case-insensitive (RFC 9110 section 11.1).
  static bool authorized(const http::request<http::string_body>& req, const std::string& token) {
    if (token.empty()) return false;
    std::string_view auth = req[http::field::authorization];
    constexpr std::string_view kBearer = "bearer ";
    if (auth.size() != kBearer.size() + token.size()) return false;
    for (size_t i = 0; i < kBearer.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(auth[i])) != kBearer[i]) return false;
    }
    return CRYPTO_memcmp(auth.data() + kBearer.size(), token.data(), token.size()) == 0;
  }

  void accept(net::Socket s);

  AdminConfig config_;  // token fields guarded by mu_
  IoPool& io_;
  metrics::Registry& metrics_;
  Hooks hooks_;
  metrics::Counter& requests_;
  metrics::Counter& denied_;
  std::mutex mu_;
  std::shared_ptr<net::Listener> listener_;
  std::atomic<int> open_{0};
  std::map<std::string, Route> routes_;  // fixed before start()
  std::function<nlohmann::json()> ops_;  // fixed before start()

  friend class AdminConnection;
};

// One keep-alive HTTP connection to the admin endpoint.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(std::shared_ptr<AdminServer::Impl> server, net::Socket s)
      : server_(std::move(server)), stream_(std::move(s)) {}
  ~AdminConnection() { server_->open_.fetch_sub(1); }

  void run() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(64 * 1024);
    parser_->header_limit(8 * 1024);
    stream_.expires_after(kRequestTimeout);
    http::async_read(
        stream_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }
  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      bool body = ec == http::error::body_limit;
      http::response<http::string_body> res{
          body ? http::status::payload_too_large : http::status::request_header_fields_too_large,
          11};
      res.set(http::field::server, std::string(kServerName) + "/" + kVersion);
      res.set(http::field::content_type, "text/plain");
      res.body() = body ? "request body over 64 KiB\n" : "request headers over 8 KiB\n";
      res.keep_alive(false);
      res.prepare_payload();
      return write(std::move(res));  // then closes (not keep-alive)
    }
    if (ec) {
      beast::error_code ignored;
      stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      return;
    }
    req_ = parser_->release();
    auto ex = stream_.get_executor();
    server_->handle(req_, [self = shared_from_this(), ex](http::response<http::string_body> res) {
      asio::post(ex, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }
  void write(http::response<http::string_body> res) {
    res_ = std::move(res);
    http::async_write(
        stream_, res_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
          if (wec) return;
          if (!self->res_.keep_alive()) {
            beast::error_code ignored;
            self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
            return;
          }
          self->do_read();
        });
  }

  std::shared_ptr<AdminServer::Impl> server_;
  Stream stream_;
  beast::flat_buffer buf_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

void AdminServer::Impl::accept(net::Socket s) {
  if (open_.fetch_add(1) >= kMaxConnections) {
    open_.fetch_sub(1);
    lg().warn("admin: too many connections, dropping one");
    return;  // socket closes
  }
  auto ex = s.get_executor();
  auto conn = std::make_shared<AdminConnection>(shared_from_this(), std::move(s));
  asio::post(ex, [conn] { conn->run(); });
}

AdminServer::AdminServer(const Config& config, IoPool& io, metrics::Registry& metrics, Hooks hooks)
    : impl_(std::make_shared<Impl>(config, io, metrics, std::move(hooks))) {}
AdminServer::~AdminServer() = default;
Status AdminServer::open() {
  return impl_->open();
}
void AdminServer::start() {
  impl_->start();
}
void AdminServer::stop() {
  impl_->stop();
}
void AdminServer::reload(const Config& config) {
  impl_->reload(config);
}
void AdminServer::add_route(std::string method, std::string path, args::Schema schema,
                            RouteHandler handler) {
  impl_->add_route(std::move(method), std::move(path), std::move(schema), std::move(handler));
}
void AdminServer::set_ops_source(std::function<nlohmann::json()> ops) {
  impl_->set_ops_source(std::move(ops));
}
uint16_t AdminServer::port() const {
  return impl_->port();
}

}  // namespace shardd::admin
