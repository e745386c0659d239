// Blocking WebSocket test client (plain and TLS, optional permessage-deflate)
// on Beast: a private io_context that only runs inside its own calls, with a
// deadline. Reads run as a loop of async operations that fill an inbox, so a
// receive timeout never cancels a read half-way (the stream stays usable).

#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "client_util.h"

namespace shardd::test {

using namespace client_util;  // NOLINT(google-build-using-namespace): internal helpers
namespace http = beast::http;
namespace websocket = beast::websocket;

// ---------------------------------------------------------------- WebSocket

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct WsClient::Impl {
  asio::io_context io;
  ssl::context ctx{ssl::context::tls_client};
  std::variant<std::monostate, std::unique_ptr<PlainWs>, std::unique_ptr<TlsWs>> ws;
  beast::flat_buffer rbuf;
  std::deque<WsMessage> inbox;
  std::deque<json> stash;  // skipped by recv_response/recv_push, still matchable
  std::vector<json> skipped;
  std::vector<json> before_close;
  websocket::response_type res;
  std::string error;
  std::string wbuf;
  bool reading = false;
  bool paused = false;
  bool closed = false;
  bool write_stuck = false;
  int close_code = 0;
  std::string close_reason;

  template <class F>
  void with_ws(F&& f) {
    if (auto* p = std::get_if<std::unique_ptr<PlainWs>>(&ws)) {
      f(**p);
    } else if (auto* t = std::get_if<std::unique_ptr<TlsWs>>(&ws)) {
      f(**t);
    }
  }

  bool has_stream() const { return !std::holds_alternative<std::monostate>(ws); }

  void start_read() {
    if (reading || closed || paused || !has_stream()) return;
    reading = true;
    with_ws([this](auto& s) {
      s.async_read(rbuf, [this](beast::error_code ec, size_t) { on_read(ec); });
    });
  }

  void on_read(beast::error_code ec) {
    reading = false;
    if (ec) {
      closed = true;
      error = ec.message();
      with_ws([this](auto& s) {
        close_code = s.reason().code;
        close_reason = std::string(s.reason().reason.c_str());
      });
      return;
    }
    WsMessage m;
    with_ws([&](auto& s) { m.binary = !s.got_text(); });
    m.data = beast::buffers_to_string(rbuf.data());
    rbuf.consume(rbuf.size());
    m.j = decode_body(m.data, m.binary);
    inbox.push_back(std::move(m));
    start_read();
  }

  std::optional<WsMessage> recv(Ms timeout) {
    start_read();
    run_until(io, timeout, [this] { return !inbox.empty() || closed; });
    if (inbox.empty()) return std::nullopt;
    WsMessage m = std::move(inbox.front());
    inbox.pop_front();
    return m;
  }

  std::optional<json> recv_match(const std::function<bool(const json&)>& match, Ms timeout) {
    for (auto it = stash.begin(); it != stash.end(); ++it) {
      if (match(*it)) {
        json j = std::move(*it);
        stash.erase(it);
        return j;
      }
    }
    auto end = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
      if (left.count() < 0) return std::nullopt;
      auto m = recv(left);
      if (!m) return std::nullopt;
      if (match(m->j)) return m->j;
      skipped.push_back(m->j);
      stash.push_back(m->j);
    }
  }

  bool send(bool binary, const std::string& data, Ms timeout) {
    if (!has_stream() || closed || write_stuck) return false;
    wbuf = data;
    std::optional<beast::error_code> result;
    with_ws([&](auto& s) {
      s.binary(binary);
      s.async_write(asio::buffer(wbuf), [&result](beast::error_code ec, size_t) { result = ec; });
    });
    if (!run_until(io, timeout, [&] { return result.has_value(); })) {
      write_stuck = true;
      return false;
    }
    if (*result) error = result->message();
    return !*result;
  }

  void drop() {
    with_ws([](auto& s) {
      beast::error_code ec;
      beast::get_lowest_layer(s).socket().close(ec);
    });
    io.restart();
    io.run_for(Ms(200));
    closed = true;
  }

  ~Impl() {
    if (has_stream()) {
      with_ws([](auto& s) {
        beast::error_code ec;
        beast::get_lowest_layer(s).socket().close(ec);
      });
      io.restart();
      io.run_for(Ms(100));
    }
  }
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}
WsClient::~WsClient() = default;

bool WsClient::connect(uint16_t port, const WsOptions& o) {
  Impl& d = *impl_;
  std::string host = "127.0.0.1:" + std::to_string(port);
  auto finish_setup = [&](auto& s) -> bool {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = o.timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    s.set_option(t);
    std::string origin = o.origin;
    s.set_option(websocket::stream_base::decorator([origin](websocket::request_type& req) {
      req.set(http::field::user_agent, "shardd-integration-test");
      if (!origin.empty()) req.set(http::field::origin, origin);
    }));
    if (o.permessage_deflate) {
      websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      s.set_option(pmd);
    }
    s.read_message_max(64 * 1024 * 1024);
    s.auto_fragment(false);
    std::optional<beast::error_code> result;
    beast::get_lowest_layer(s).expires_never();
    s.async_handshake(d.res, host, o.path, [&](beast::error_code ec) { result = ec; });
    if (!run_until(d.io, o.timeout + Ms(500), [&] { return result.has_value(); })) {
      d.error = "handshake timed out";
      return false;
    }
    if (*result) {
      d.error = "handshake: " + result->message();
      return false;
    }
    return true;
  };
  if (!o.tls) {
    auto s = std::make_unique<PlainWs>(d.io);
    auto ec = open_and_connect(d.io, beast::get_lowest_layer(*s).socket(), port, o.source_ip,
                               o.rcvbuf, o.timeout);
    if (ec) {
      d.error = "connect: " + ec.message();
      return false;
    }
    if (!finish_setup(*s)) return false;
    d.ws = std::move(s);
  } else {
    setup_client_tls(d.ctx, o.ca_file, 0);
    auto s = std::make_unique<TlsWs>(d.io, d.ctx);
    auto ec = open_and_connect(d.io, beast::get_lowest_layer(*s).socket(), port, o.source_ip,
                               o.rcvbuf, o.timeout);
    if (ec) {
      d.error = "connect: " + ec.message();
      return false;
    }
    set_sni(s->next_layer().native_handle());
    std::optional<beast::error_code> result;
    beast::get_lowest_layer(*s).expires_after(o.timeout);
    s->next_layer().async_handshake(ssl::stream_base::client,
                                    [&](beast::error_code e) { result = e; });
    if (!run_until(d.io, o.timeout + Ms(500), [&] { return result.has_value(); }) || *result) {
      d.error = "TLS handshake: " + (result ? result->message() : std::string("timeout"));
      return false;
    }
    if (!finish_setup(*s)) return false;
    d.ws = std::move(s);
  }
  d.start_read();
  return true;
}

const std::string& WsClient::error() const {
  return impl_->error;
}
int WsClient::http_status() const {
  return impl_->res.result_int();
}
const std::string& WsClient::http_body() const {
  return impl_->res.body();
}
std::string WsClient::response_header(const std::string& name) const {
  for (const auto& h : impl_->res.base()) {
    if (iequals(h.name_string(), name)) return std::string(h.value());
  }
  return "";
}

bool WsClient::send_text(const std::string& text, Ms timeout) {
  return impl_->send(false, text, timeout);
}
bool WsClient::send_binary(const std::string& bytes, Ms timeout) {
  return impl_->send(true, bytes, timeout);
}
bool WsClient::send_msgpack(const json& j, Ms timeout) {
  auto v = json::to_msgpack(j);
  return send_binary(std::string(v.begin(), v.end()), timeout);
}

std::optional<WsMessage> WsClient::recv(Ms timeout) {
  return impl_->recv(timeout);
}

std::optional<json> WsClient::recv_response(uint64_t rid, Ms timeout) {
  return impl_->recv_match(
      [rid](const json& j) {
        return j.is_object() && j.contains("ok") && j.contains("rid") &&
               j["rid"].is_number_unsigned() && j["rid"].get<uint64_t>() == rid;
      },
      timeout);
}

std::optional<json> WsClient::recv_push(const std::string& op, Ms timeout) {
  return impl_->recv_match(
      [&op](const json& j) {
        return j.is_object() && j.contains("seq") && j.value("op", "") == op;
      },
      timeout);
}

const std::vector<json>& WsClient::skipped() const {
  return impl_->skipped;
}

std::optional<json> WsClient::request(const std::string& op, const json& d, Ms timeout) {
  uint64_t rid = next_rid();
  if (!send_json({{"op", op}, {"rid", rid}, {"d", d}}, timeout)) return std::nullopt;
  return recv_response(rid, timeout);
}

bool WsClient::wait_closed(Ms timeout) {
  Impl& d = *impl_;
  auto end = Clock::now() + timeout;
  while (!d.closed) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left.count() < 0) return false;
    auto m = d.recv(left);
    if (m) d.before_close.push_back(m->j);
  }
  while (!d.inbox.empty()) {
    d.before_close.push_back(d.inbox.front().j);
    d.inbox.pop_front();
  }
  return true;
}

bool WsClient::closed() const {
  return impl_->closed;
}
int WsClient::close_code() const {
  return impl_->close_code;
}
std::string WsClient::close_reason() const {
  return impl_->close_reason;
}
const std::vector<json>& WsClient::received_before_close() const {
  return impl_->before_close;
}
void WsClient::pause_reading() {
  impl_->paused = true;
}

void WsClient::close(Ms timeout) {
  Impl& d = *impl_;
  if (!d.has_stream() || d.closed) return;
  std::optional<beast::error_code> result;
  d.with_ws([&](auto& s) {
    s.async_close(websocket::close_code::normal, [&](beast::error_code ec) { result = ec; });
  });
  run_until(d.io, timeout, [&] { return result.has_value(); });
  d.closed = true;
}

int WsClient::close_with_code(uint16_t code, Ms timeout) {
  Impl& d = *impl_;
  if (!d.has_stream() || d.closed) return 0;
  std::optional<beast::error_code> result;
  int answered = 0;
  d.with_ws([&](auto& s) {
    s.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), "test"),
                  [&](beast::error_code ec) { result = ec; });
  });
  run_until(d.io, timeout, [&] { return result.has_value(); });
  d.with_ws([&](auto& s) { answered = s.reason().code; });
  d.closed = true;
  return answered;
}

void WsClient::drop() {
  impl_->drop();
}

}  // namespace shardd::test
