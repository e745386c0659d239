#include "ws_client.h"

namespace shardd::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

WsClient::WsClient(asio::io_context& ctx, size_t max_message_bytes) : ws_(ctx) {
  ws_.read_message_max(max_message_bytes);
  ws_.auto_fragment(false);
  // The mask only has to be unpredictable to intermediaries a browser could
  // poison; a load generator can use Beast's fast generator.
  ws_.secure_prng(false);
  ws_.text(true);
}

WsClient::Upgrade WsClient::make_upgrade(const std::string& host, uint16_t port,
                                         const std::string& path) {
  return Upgrade{host + ":" + std::to_string(port), path};
}

std::optional<tcp::endpoint> WsClient::resolve(const std::string& host, uint16_t port,
                                               std::string* error) {
  asio::io_context ctx;
  tcp::resolver resolver(ctx);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    *error = "cannot resolve " + host + ": " + (ec ? ec.message() : "no address");
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

void WsClient::start(const tcp::endpoint& endpoint, const Upgrade& upgrade) {
  state_ = State::kConnecting;
  ws_.next_layer().async_connect(endpoint, [this, &upgrade](const boost::system::error_code& ec) {
    if (state_ != State::kConnecting) return;
    if (ec) return fail("connect: " + ec.message());
    boost::system::error_code ignored;
    ws_.next_layer().set_option(tcp::no_delay(true), ignored);
    ws_.async_handshake(upgrade.host, upgrade.target, [this](const boost::system::error_code& hec) {
      if (state_ != State::kConnecting) return;
      if (hec) return fail("handshake: " + hec.message());
      state_ = State::kOpen;
      on_open();
      if (state_ != State::kOpen) return;
      do_read();
      flush();
    });
  });
}

void WsClient::queue_text(std::string_view payload) {
  if (queued_count_ == queued_.size()) queued_.emplace_back();
  queued_[queued_count_++].assign(payload);
}

void WsClient::flush() {
  if (writing_ || queued_count_ == 0 || state_ != State::kOpen) return;
  queued_.swap(sending_);
  sending_count_ = queued_count_;
  sending_next_ = 0;
  queued_count_ = 0;
  writing_ = true;
  write_next();
}

void WsClient::write_next() {
  const std::string& msg = sending_[sending_next_];
  ws_.async_write(asio::buffer(msg), [this](const boost::system::error_code& ec, size_t) {
    if (state_ != State::kOpen) {
      writing_ = false;
      return;
    }
    if (ec) {
      writing_ = false;
      return fail("write: " + ec.message());
    }
    if (++sending_next_ < sending_count_) return write_next();
    writing_ = false;
    flush();
  });
}

void WsClient::do_read() {
  ws_.async_read(rbuf_, [this](const boost::system::error_code& ec, size_t n) {
    if (state_ != State::kOpen) return;
    if (ec) {
      return fail(ec == websocket::error::closed ? "closed by server (close frame)"
                  : ec == asio::error::eof       ? "closed by server"
                                                 : "read: " + ec.message());
    }
    on_message(std::string_view(static_cast<const char*>(rbuf_.data().data()), n));
    rbuf_.consume(n);
    if (state_ != State::kOpen) return;
    on_read_done();
    if (state_ != State::kOpen) return;
    do_read();
  });
}

void WsClient::drop_socket() {
  state_ = State::kClosed;
  boost::system::error_code ignored;
  auto& sock = ws_.next_layer();
  sock.set_option(asio::socket_base::linger(true, 0), ignored);
  sock.close(ignored);
}

void WsClient::close_now() {
  if (state_ == State::kClosed) return;
  drop_socket();
}

void WsClient::fail(std::string_view why) {
  if (state_ == State::kClosed) return;
  drop_socket();
  on_closed(why);
}

}  // namespace shardd::bench
