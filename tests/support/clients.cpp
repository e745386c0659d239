// Blocking test clients built on Beast/Asio: each owns a private io_context
// that only runs inside its own calls, with a deadline. Reads run as a loop of
// async operations that fill an inbox, so a receive timeout never cancels a
// read half-way (the stream stays usable).

#include <openssl/ssl.h>
#include <zlib.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cctype>
#include <deque>
#include <functional>
#include <sstream>
#include <variant>

#include "shardd_test/harness.h"

namespace shardd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// Runs `io` until `done()` or the timeout. Returns done().
bool run_until(asio::io_context& io, Ms timeout, const std::function<bool()>& done) {
  auto end = Clock::now() + timeout;
  while (!done()) {
    auto left = end - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    if (io.stopped()) io.restart();
    size_t n = io.run_one_for(left);
    if (n == 0 && io.stopped() && !done()) {
      return false;  // no work left: nothing can make done() true
    }
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <class Fields>
std::vector<std::pair<std::string, std::string>> header_list(const Fields& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : f) out.emplace_back(std::string(h.name_string()), std::string(h.value()));
  return out;
}

json decode_body(const std::string& bytes, bool msgpack) {
  if (msgpack) {
    return json::from_msgpack(bytes, true, false);
  }
  return json::parse(bytes, nullptr, false);
}

bool zlib_inflate_all(const std::string& in, std::string* out) {
  out->clear();
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char chunk[16384];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return false;
    }
    out->append(chunk, sizeof chunk - zs.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return true;
}

std::string zlib_deflate_all(const std::string& in) {
  uLongf bound = compressBound(static_cast<uLong>(in.size()));
  std::string out(bound, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &bound,
            reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()), 6);
  out.resize(bound);
  return out;
}

// Opens `sock` (IPv4), applies the options and connects to 127.0.0.1:port.
template <class Socket>
beast::error_code open_and_connect(asio::io_context& io, Socket& sock, uint16_t port,
                                   const std::string& source_ip, int rcvbuf, Ms timeout) {
  beast::error_code ec;
  sock.open(tcp::v4(), ec);
  if (ec) return ec;
  if (rcvbuf > 0) sock.set_option(asio::socket_base::receive_buffer_size(rcvbuf), ec);
  if (!source_ip.empty()) {
    sock.bind(tcp::endpoint(asio::ip::make_address(source_ip), 0), ec);
    if (ec) return ec;
  }
  sock.set_option(tcp::no_delay(true), ec);
  std::optional<beast::error_code> result;
  sock.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                     [&](beast::error_code e) { result = e; });
  if (!run_until(io, timeout, [&] { return result.has_value(); })) {
    sock.close(ec);
    run_until(io, Ms(1000), [&] { return result.has_value(); });
    return asio::error::timed_out;
  }
  return *result;
}

void setup_client_tls(ssl::context& ctx, const std::string& ca_file, int max_version) {
  if (!ca_file.empty()) {
    ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  if (max_version) {
    // Allow old protocol versions on our side so that a refusal can only come
    // from the server.
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    SSL_CTX_set_cipher_list(ctx.native_handle(), "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
  }
}

// SNI "localhost" (SSL_set_tlsext_host_name without its C cast).
void set_sni(SSL* ssl) {
  static char name[] = "localhost";
  SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name);
}

}  // namespace

// ---------------------------------------------------------------- HTTP

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

HttpResponse http_get(uint16_t port, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      Ms timeout) {
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

const std::string& WsClient::error() const { return impl_->error; }
int WsClient::http_status() const { return impl_->res.result_int(); }
const std::string& WsClient::http_body() const { return impl_->res.body(); }
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

std::optional<WsMessage> WsClient::recv(Ms timeout) { return impl_->recv(timeout); }

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

const std::vector<json>& WsClient::skipped() const { return impl_->skipped; }

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

bool WsClient::closed() const { return impl_->closed; }
int WsClient::close_code() const { return impl_->close_code; }
std::string WsClient::close_reason() const { return impl_->close_reason; }
const std::vector<json>& WsClient::received_before_close() const { return impl_->before_close; }
void WsClient::pause_reading() { impl_->paused = true; }

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

void WsClient::drop() { impl_->drop(); }

// ---------------------------------------------------------------- framed TCP

using TlsSocket = ssl::stream<tcp::socket>;

struct TcpClient::Impl {
  asio::io_context io;
  ssl::context ctx{ssl::context::tls_client};
  std::variant<std::monostate, std::unique_ptr<tcp::socket>, std::unique_ptr<TlsSocket>> s;
  std::array<uint8_t, 9> hdr{};
  std::string body;
  std::deque<TcpFrame> inbox;
  std::deque<TcpFrame> stash;
  std::vector<TcpFrame> skipped;
  std::string wbuf;
  std::string error;
  bool reading = false;
  bool closed = false;
  bool write_stuck = false;

  template <class F>
  void with_stream(F&& f) {
    if (auto* p = std::get_if<std::unique_ptr<tcp::socket>>(&s)) {
      f(**p);
    } else if (auto* t = std::get_if<std::unique_ptr<TlsSocket>>(&s)) {
      f(**t);
    }
  }
  tcp::socket& lowest() {
    if (auto* p = std::get_if<std::unique_ptr<tcp::socket>>(&s)) return **p;
    return std::get<std::unique_ptr<TlsSocket>>(s)->next_layer();
  }
  bool has_stream() const { return !std::holds_alternative<std::monostate>(s); }

  void start_read() {
    if (reading || closed || !has_stream()) return;
    reading = true;
    with_stream([this](auto& st) {
      asio::async_read(st, asio::buffer(hdr), [this](beast::error_code ec, size_t) {
        if (ec) return fail(ec);
        uint32_t len = (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) |
                       (uint32_t{hdr[2]} << 8) | hdr[3];
        body.assign(len, '\0');
        with_stream([this](auto& st2) {
          asio::async_read(st2, asio::buffer(body), [this](beast::error_code ec2, size_t) {
            if (ec2) return fail(ec2);
            on_frame();
          });
        });
      });
    });
  }

  void fail(beast::error_code ec) {
    reading = false;
    closed = true;
    error = ec.message();
  }

  void on_frame() {
    reading = false;
    TcpFrame f;
    f.length = (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) |
               hdr[3];
    f.flags = hdr[4];
    f.seq = (uint32_t{hdr[5]} << 24) | (uint32_t{hdr[6]} << 16) | (uint32_t{hdr[7]} << 8) |
            hdr[8];
    f.body = std::move(body);
    body.clear();
    if (f.flags & 0x02) {
      if (!zlib_inflate_all(f.body, &f.plain)) f.plain.clear();
    } else {
      f.plain = f.body;
    }
    f.j = decode_body(f.plain, (f.flags & 0x01) != 0);
    inbox.push_back(std::move(f));
    start_read();
  }

  std::optional<TcpFrame> recv(Ms timeout) {
    start_read();
    run_until(io, timeout, [this] { return !inbox.empty() || closed; });
    if (inbox.empty()) return std::nullopt;
    TcpFrame f = std::move(inbox.front());
    inbox.pop_front();
    return f;
  }

  std::optional<json> recv_match(const std::function<bool(const json&)>& match, Ms timeout) {
    for (auto it = stash.begin(); it != stash.end(); ++it) {
      if (match(it->j)) {
        json j = std::move(it->j);
        stash.erase(it);
        return j;
      }
    }
    auto end = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
      if (left.count() < 0) return std::nullopt;
      auto f = recv(left);
      if (!f) return std::nullopt;
      if (match(f->j)) return f->j;
      skipped.push_back(*f);
      stash.push_back(std::move(*f));
    }
  }

  bool send(const std::string& bytes, Ms timeout) {
    if (!has_stream() || write_stuck) return false;
    wbuf = bytes;
    std::optional<beast::error_code> result;
    with_stream([&](auto& st) {
      asio::async_write(st, asio::buffer(wbuf),
                        [&result](beast::error_code ec, size_t) { result = ec; });
    });
    if (!run_until(io, timeout, [&] { return result.has_value(); })) {
      write_stuck = true;
      return false;
    }
    if (*result) error = result->message();
    return !*result;
  }

  ~Impl() {
    if (has_stream()) {
      beast::error_code ec;
      lowest().close(ec);
      io.restart();
      io.run_for(Ms(100));
    }
  }
};

TcpClient::TcpClient() : impl_(std::make_unique<Impl>()) {}
TcpClient::~TcpClient() = default;

bool TcpClient::connect(uint16_t port, const TcpOptions& o) {
  Impl& d = *impl_;
  if (!o.tls) {
    auto sock = std::make_unique<tcp::socket>(d.io);
    auto ec = open_and_connect(d.io, *sock, port, o.source_ip, 0, o.timeout);
    if (ec) {
      d.error = "connect: " + ec.message();
      return false;
    }
    d.s = std::move(sock);
  } else {
    setup_client_tls(d.ctx, o.ca_file, o.tls_max_version);
    auto st = std::make_unique<TlsSocket>(d.io, d.ctx);
    auto ec = open_and_connect(d.io, st->next_layer(), port, o.source_ip, 0, o.timeout);
    if (ec) {
      d.error = "connect: " + ec.message();
      return false;
    }
    set_sni(st->native_handle());
    std::optional<beast::error_code> result;
    st->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { result = e; });
    if (!run_until(d.io, o.timeout, [&] { return result.has_value(); })) {
      beast::error_code ignored;
      st->next_layer().close(ignored);
      run_until(d.io, Ms(1000), [&] { return result.has_value(); });
      d.error = "TLS handshake: timeout";
      return false;
    }
    if (*result) {
      d.error = "TLS handshake: " + result->message();
      return false;
    }
    d.s = std::move(st);
  }
  d.start_read();
  return true;
}

const std::string& TcpClient::error() const { return impl_->error; }

bool TcpClient::send_frame(uint8_t flags, uint32_t seq, const std::string& body,
                           std::optional<uint32_t> length, Ms timeout) {
  uint32_t len = length ? *length : static_cast<uint32_t>(body.size());
  std::string out;
  out.reserve(9 + body.size());
  out.push_back(static_cast<char>(len >> 24));
  out.push_back(static_cast<char>(len >> 16));
  out.push_back(static_cast<char>(len >> 8));
  out.push_back(static_cast<char>(len));
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>(seq >> 24));
  out.push_back(static_cast<char>(seq >> 16));
  out.push_back(static_cast<char>(seq >> 8));
  out.push_back(static_cast<char>(seq));
  out += body;
  return send_raw(out, timeout);
}

bool TcpClient::send_json(const json& j, bool msgpack, bool zlib, Ms timeout) {
  std::string body;
  if (msgpack) {
    auto v = json::to_msgpack(j);
    body.assign(v.begin(), v.end());
  } else {
    body = j.dump();
  }
  uint8_t flags = msgpack ? 0x01 : 0x00;
  if (zlib) {
    body = zlib_deflate_all(body);
    flags |= 0x02;
  }
  return send_frame(flags, next_seq(), body, std::nullopt, timeout);
}

bool TcpClient::send_raw(const std::string& bytes, Ms timeout) {
  return impl_->send(bytes, timeout);
}

std::optional<TcpFrame> TcpClient::recv(Ms timeout) { return impl_->recv(timeout); }

std::optional<json> TcpClient::recv_response(uint64_t rid, Ms timeout) {
  return impl_->recv_match(
      [rid](const json& j) {
        return j.is_object() && j.contains("ok") && j.contains("rid") &&
               j["rid"].is_number_unsigned() && j["rid"].get<uint64_t>() == rid;
      },
      timeout);
}

std::optional<json> TcpClient::recv_push(const std::string& op, Ms timeout) {
  return impl_->recv_match(
      [&op](const json& j) {
        return j.is_object() && j.contains("seq") && j.value("op", "") == op;
      },
      timeout);
}

std::optional<json> TcpClient::request(const std::string& op, const json& d, bool msgpack,
                                       Ms timeout) {
  uint64_t rid = next_rid();
  if (!send_json({{"op", op}, {"rid", rid}, {"d", d}}, msgpack, false, timeout)) {
    return std::nullopt;
  }
  return recv_response(rid, timeout);
}

const std::vector<TcpFrame>& TcpClient::skipped() const { return impl_->skipped; }

bool TcpClient::wait_closed(Ms timeout) {
  Impl& d = *impl_;
  auto end = Clock::now() + timeout;
  while (!d.closed) {
    auto left = std::chrono::duration_cast<Ms>(end - Clock::now());
    if (left.count() < 0) return false;
    auto f = d.recv(left);
    if (f) {
      d.skipped.push_back(*f);
      d.stash.push_back(std::move(*f));
    }
  }
  return true;
}

bool TcpClient::closed() const { return impl_->closed; }

void TcpClient::drop() {
  Impl& d = *impl_;
  if (!d.has_stream()) return;
  beast::error_code ec;
  d.lowest().close(ec);
  d.io.restart();
  d.io.run_for(Ms(100));
  d.closed = true;
}

}  // namespace shardd::test
