#pragma once

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "internal.h"
#include "shardd/net/codec/tcp_frame.h"

namespace shardd::net {

// A framed-TCP client connection (see codec/tcp_frame.h).
// Stream: Socket or asio::ssl::stream<Socket>.
template <class Stream>
class TcpConnection final : public ConnectionBase {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, Socket>;

  TcpConnection(NetShared& shared, TransportMetrics& metrics, ConnectionLimiter::Slot slot,
                std::string ip, uint16_t port, Stream&& stream)
      : ConnectionBase(shared, metrics, std::move(slot), Transport::kTcp, kTls, std::move(ip), port,
                       lowest(stream).get_executor()),
        stream_(std::move(stream)) {}

  // Runs the TLS handshake (if any), then starts the session. With `refuse`,
  // sends one sys.close frame with that code instead and closes.
  void run(std::optional<Status> refuse) {
    refuse_ = std::move(refuse);
    if constexpr (kTls) {
      arm_deadline(std::chrono::milliseconds(
                       shared_.limits.handshake_timeout_ms.load(std::memory_order_relaxed)),
                   "TLS handshake timed out");
      stream_.async_handshake(boost::asio::ssl::stream_base::server,
                              [self = self_ptr()](boost::system::error_code ec) {
                                if (ec) {
                                  self->metrics_.handshake_failed.inc();
                                  self->finish("TLS handshake failed: " + ec.message());
                                  return;
                                }
                                self->start();
                              });
    } else {
      start();
    }
  }

 protected:
  void prepare_frame(OutFrame& f) override {
    uint8_t flags = f.encoding == Encoding::kMsgpack ? kTcpFlagMsgpack : 0;
    uint32_t min = shared_.limits.compress_min_bytes.load(std::memory_order_relaxed);
    if (min > 0 && f.size() >= min) {
      std::string plain = f.flat();
      std::string packed;
      zlib_deflate(plain, &packed);
      if (packed.size() < plain.size()) {
        f.bytes = std::move(packed);
        f.shared.reset();
        f.tail = {};
        f.clear_prefix();
        flags |= kTcpFlagZlib;
      }
    }
    auto hdr = encode_tcp_header({static_cast<uint32_t>(f.size()), flags, ++tx_seq_});
    f.prepend(std::string_view(reinterpret_cast<const char*>(hdr.data()), hdr.size()));
  }

  void write_batch() override {
    bufs_.clear();
    for (const OutFrame& f : inflight_) {
      if (auto p = f.prefix(); !p.empty()) bufs_.push_back(boost::asio::buffer(p.data(), p.size()));
      if (!f.bytes.empty()) bufs_.push_back(boost::asio::buffer(f.bytes));
      if (f.shared) bufs_.push_back(boost::asio::buffer(*f.shared));
      if (!f.tail.empty()) bufs_.push_back(boost::asio::buffer(f.tail.data(), f.tail.size()));
    }
    boost::asio::async_write(stream_, bufs_,
                             [self = self_ptr()](boost::system::error_code ec, std::size_t n) {
                               self->on_batch_written(ec, n);
                             });
  }

  void begin_close() override {
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = self_ptr()](boost::system::error_code) { self->close_socket(); });
    } else {
      boost::system::error_code ec;
      stream_.shutdown(boost::asio::socket_base::shutdown_send, ec);
    }
  }

  void close_socket() override {
    boost::system::error_code ec;
    lowest(stream_).close(ec);
  }

 private:
  static Socket& lowest(Stream& s) {
    if constexpr (kTls) {
      return s.next_layer();
    } else {
      return s;
    }
  }

  std::shared_ptr<TcpConnection> self_ptr() {
    return std::static_pointer_cast<TcpConnection>(shared_from_this());
  }

  void start() {
    if (refuse_) {
      state_ = State::kOpen;
      OutFrame f;
      nlohmann::json d = {{"code", error_code_name(refuse_->code())}, {"msg", refuse_->message()}};
      encode_push(Encoding::kJson, "sys.close", 1, d, &f);
      send(std::move(f));
      close(ws_close_code(refuse_->code()), refuse_->message());
      do_read();
      return;
    }
    open_session();
    do_read();
  }

  void do_read() {
    size_t want = std::max<size_t>(4096, need_ > rbuf_.size() ? need_ - rbuf_.size() : 0);
    stream_.async_read_some(
        rbuf_.prepare(want),
        [self = self_ptr()](boost::system::error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    ReadTurn turn(*this);
    if (ec) {
      finish(ec == boost::asio::error::eof ? "closed by peer" : ec.message());
      return;
    }
    rbuf_.commit(n);
    metrics_.bytes_in.inc(n);
    if (state_ == State::kOpen) {
      parse_frames();
    } else {
      rbuf_.consume(rbuf_.size());  // closing: discard until the peer closes
    }
    if (rbuf_.size() == 0 && rbuf_.capacity() > 16 * 1024) rbuf_.shrink_to_fit();
    do_read();  // every complete frame was handled: this read needs the stream
    turn.input_drained();
  }

  void parse_frames() {
    const uint32_t max = shared_.limits.max_frame_bytes.load(std::memory_order_relaxed);
    need_ = kTcpHeaderSize;
    while (deliverable() && rbuf_.size() >= kTcpHeaderSize) {
      auto* p = static_cast<const uint8_t*>(rbuf_.data().data());
      TcpFrameHeader h = decode_tcp_header(p);
      Status st = check_tcp_header(h, rx_seq_ + 1, max);
      if (!st.ok()) {
        if (st.code() == ErrorCode::kTooLarge) metrics_.too_large.inc();
        rbuf_.consume(rbuf_.size());
        handler_->on_bad_frame(st, /*fatal=*/true);
        return;
      }
      size_t total = kTcpHeaderSize + h.length;
      if (rbuf_.size() < total) {
        need_ = total;
        return;
      }
      ++rx_seq_;
      metrics_.frames_in.inc();
      touch();
      std::string_view body(reinterpret_cast<const char*>(p) + kTcpHeaderSize, h.length);
      Encoding enc = (h.flags & kTcpFlagMsgpack) ? Encoding::kMsgpack : Encoding::kJson;
      if (h.flags & kTcpFlagZlib) {
        Status zs = zlib_inflate(body, max, &inflated_);
        if (!zs.ok()) {
          if (zs.code() == ErrorCode::kTooLarge) metrics_.too_large.inc();
          rbuf_.consume(total);
          handler_->on_bad_frame(zs, /*fatal=*/zs.code() == ErrorCode::kTooLarge);
          continue;
        }
        handler_->on_message(inflated_, enc);
        if (inflated_.capacity() > 16 * 1024) std::string().swap(inflated_);
      } else {
        handler_->on_message(body, enc);
      }
      rbuf_.consume(total);
    }
  }

  Stream stream_;
  boost::beast::flat_buffer rbuf_;
  std::vector<boost::asio::const_buffer> bufs_;
  std::string inflated_;
  std::optional<Status> refuse_;
  size_t need_ = kTcpHeaderSize;
  uint32_t rx_seq_ = 0;
  uint32_t tx_seq_ = 0;
};

}  // namespace shardd::net
