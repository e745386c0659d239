// Blocking framed-TCP test client (plain and TLS), same model as the WebSocket one.

#include "client_util.h"

namespace shardd::test {

using namespace client_util;  // NOLINT(google-build-using-namespace): internal helpers

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
        uint32_t len =
            (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) | hdr[3];
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
    f.length =
        (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) | hdr[3];
    f.flags = hdr[4];
    f.seq = (uint32_t{hdr[5]} << 24) | (uint32_t{hdr[6]} << 16) | (uint32_t{hdr[7]} << 8) | hdr[8];
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

const std::string& TcpClient::error() const {
  return impl_->error;
}

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

std::optional<TcpFrame> TcpClient::recv(Ms timeout) {
  return impl_->recv(timeout);
}

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

const std::vector<TcpFrame>& TcpClient::skipped() const {
  return impl_->skipped;
}

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

bool TcpClient::closed() const {
  return impl_->closed;
}

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
