#pragma once

#include <array>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "cork_stream.h"
#include "internal.h"
#include "shardd/version.h"

namespace shardd::net {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;

using TcpStream = beast::basic_stream<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using TlsStream = beast::ssl_stream<TcpStream>;

struct WsOptions {
  bool permessage_deflate = false;
};

// A WebSocket client connection after the HTTP upgrade request was read.
// Stream: Socket (plain: the socket taken out of the front's TcpStream, so
// every write goes straight from the WebSocket stream to the socket; the
// WebSocket stream keeps its own timers) or TlsStream.
// Text frames carry JSON, binary frames MessagePack.
template <class Stream>
class WsConnection final : public ConnectionBase {
 public:
  WsConnection(NetShared& shared, TransportMetrics& metrics, ConnectionLimiter::Slot slot, bool tls,
               std::string ip, uint16_t port, Stream&& stream)
      : ConnectionBase(shared, metrics, std::move(slot), Transport::kWs, tls, std::move(ip), port,
                       beast::get_lowest_layer(stream).get_executor()),
        ws_(std::move(stream)) {}

  // Completes the upgrade (101) for `req`, then starts the session.
  void run(http::request<http::empty_body> req, const WsOptions& opts) {
    auto hs = std::chrono::milliseconds(
        shared_.limits.handshake_timeout_ms.load(std::memory_order_relaxed));
    if constexpr (!std::is_same_v<Stream, Socket>) {
      beast::get_lowest_layer(ws_).expires_never();  // websocket has its own timers
    }
    websocket::stream_base::timeout t{};
    t.handshake_timeout = hs;  // also bounds the close handshake
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, std::string(kServerName) + "/" + kVersion);
    }));
    if (opts.permessage_deflate) {
      websocket::permessage_deflate pmd;
      pmd.server_enable = true;
      pmd.client_enable = false;
      ws_.set_option(pmd);
    }
    // RFC 6455 section 7.4: a close frame with a code the protocol does not
    // allow must fail the connection with 1002. Beast refuses the reserved
    // codes below 3000 itself but accepts 5000-65535 and would echo them;
    // the cork layer turns that echo into 1002 (see CorkStream).
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::close && ws_.reason().code >= 5000) {
        close_reason_ = "close frame with invalid code " + std::to_string(ws_.reason().code) +
                        " (answered 1002)";
        ws_.next_layer().fail_close_echo(1002);
      }
    });
    ws_.auto_fragment(false);
    ws_.read_message_max(shared_.limits.max_frame_bytes.load(std::memory_order_relaxed));
    ws_.async_accept(req, [self = self_ptr()](beast::error_code ec) { self->on_accept(ec); });
  }

 protected:
  void prepare_frame(OutFrame&) override {}

  // The batch's messages are written into the cork buffer one by one (each
  // completes at once), then handed to the socket in one write.
  void write_batch() override {
    write_index_ = 0;
    batch_bytes_ = 0;
    if (inflight_.size() > 1) ws_.next_layer().cork();
    write_next();
  }

  void begin_close() override {
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = self_ptr()](beast::error_code ec) {
          if (ec && self->state_ != State::kDead) {
            self->abort("close handshake failed: " + ec.message());
          }
        });
  }

  void close_socket() override {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, Socket>) {
      beast::get_lowest_layer(ws_).close(ec);
    } else {
      beast::get_lowest_layer(ws_).socket().close(ec);
    }
  }

 private:
  std::shared_ptr<WsConnection> self_ptr() {
    return std::static_pointer_cast<WsConnection>(shared_from_this());
  }

  void on_accept(beast::error_code ec) {
    if (ec) {
      metrics_.handshake_failed.inc();
      finish("websocket handshake failed: " + ec.message());
      return;
    }
    open_session();
    do_read();
  }

  void do_read() {
    ws_.read_message_max(shared_.limits.max_frame_bytes.load(std::memory_order_relaxed));
    ws_.async_read(
        rbuf_, [self = self_ptr()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    ReadTurn turn(*this);
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        metrics_.too_large.inc();
        drop_code_ = ErrorCode::kTooLarge;
        if (close_reason_.empty()) close_reason_ = "message too big (closed with 1009)";
      }
      finish(ec == websocket::error::closed ? "closed by peer" : ec.message());
      return;
    }
    metrics_.bytes_in.inc(n);
    metrics_.frames_in.inc();
    touch();
    if (deliverable()) {
      auto data = rbuf_.data();
      handler_->on_message(std::string_view(static_cast<const char*>(data.data()), data.size()),
                           ws_.got_text() ? Encoding::kJson : Encoding::kMsgpack);
    }
    rbuf_.consume(rbuf_.size());
    if (rbuf_.capacity() > 16 * 1024) rbuf_.shrink_to_fit();
    const std::size_t socket_reads = ws_.next_layer().reads_started();
    do_read();
    if (ws_.next_layer().reads_started() != socket_reads) turn.input_drained();
  }

  void write_next() {
    const OutFrame& f = inflight_[write_index_];
    ws_.binary(f.encoding == Encoding::kMsgpack);
    std::string_view pre = f.prefix();
    std::array<boost::asio::const_buffer, 4> bufs{
        boost::asio::buffer(pre.data(), pre.size()), boost::asio::buffer(f.bytes),
        f.shared ? boost::asio::buffer(*f.shared) : boost::asio::const_buffer(),
        boost::asio::buffer(f.tail.data(), f.tail.size())};
    ws_.async_write(
        bufs, [self = self_ptr()](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
  }

  void on_write(beast::error_code ec, std::size_t n) {
    batch_bytes_ += n;
    if (!ec && ++write_index_ < inflight_.size()) {
      write_next();
      return;
    }
    if (!ws_.next_layer().corked()) {
      on_batch_written(ec, batch_bytes_);
      return;
    }
    if (ec) {  // the batch failed part-way: drop what was corked
      ws_.next_layer().take_corked();
      ws_.next_layer().async_uncork([self = self_ptr(), ec](beast::error_code, std::size_t) {
        self->on_batch_written(ec, self->batch_bytes_);
      });
      return;
    }
    ws_.next_layer().async_uncork([self = self_ptr()](beast::error_code wec, std::size_t) {
      self->on_batch_written(wec, self->batch_bytes_);
    });
  }

  websocket::stream<CorkStream<Stream>> ws_;
  beast::flat_buffer rbuf_;
  size_t write_index_ = 0;
  size_t batch_bytes_ = 0;
};

}  // namespace shardd::net
