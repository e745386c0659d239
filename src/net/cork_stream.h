#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace shardd::net {

// A stream layer under the WebSocket stream that lets one syscall (and, over
// TLS, one record) carry several WebSocket messages. Between cork() and
// async_uncork() every write is copied into a buffer and completes at once;
// async_uncork() writes the buffer to the next layer in one go. Outside that
// window writes go straight through, so control frames Beast sends on its own
// (pongs, the close frame) are never held back. Reads always go straight
// through; reads_started() counts them, so the owner can tell whether the
// WebSocket stream answered a read from its own buffer or had to go to the
// socket.
//
// Thread-safety: like the stream it wraps (one executor). REQUIRES: one
// async_uncork() at a time, and no direct write while it runs (the owner
// serializes its writes; Beast serializes its own).
template <class NextLayer>
class CorkStream {
 public:
  using executor_type = typename NextLayer::executor_type;
  using next_layer_type = NextLayer;

  template <class... Args>
  explicit CorkStream(Args&&... args) : next_(std::forward<Args>(args)...) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  void cork() { corked_ = true; }
  bool corked() const { return corked_; }

  // Ends the cork window and writes what it collected; `handler(ec, bytes)`.
  template <class Handler>
  void async_uncork(Handler&& handler) {
    corked_ = false;
    if (buf_.empty()) {
      boost::asio::post(get_executor(), boost::beast::bind_front_handler(
                                            std::forward<Handler>(handler),
                                            boost::system::error_code{}, std::size_t{0}));
      return;
    }
    out_.swap(buf_);
    buf_.clear();
    boost::asio::async_write(next_, boost::asio::buffer(out_),
                             [this, h = std::forward<Handler>(handler)](
                                 boost::system::error_code ec, std::size_t n) mutable {
                               out_.clear();
                               if (out_.capacity() > kKeepBytes) std::vector<char>().swap(out_);
                               std::move(h)(ec, n);
                             });
  }

  // Bytes collected in the cork window and not yet handed to the next layer.
  std::size_t corked_bytes() const { return buf_.size(); }
  std::vector<char> take_corked() {
    std::vector<char> v;
    v.swap(buf_);
    return v;
  }

  // Makes the next close frame written through this layer (the echo Beast
  // sends when the peer starts the closing handshake) carry `code` instead of
  // the peer's code. Beast validates close codes only against its own table;
  // this is how a peer's out-of-range code is answered 1002 (protocol error)
  // as RFC 6455 section 7.4 asks. A server-written close frame is unmasked, so
  // it starts 0x88 (FIN + close), then a one-byte length (the payload is at
  // most 125 bytes), then the code: those are the two bytes replaced.
  void fail_close_echo(uint16_t code) { close_override_ = code; }

  // Reads handed to the next layer so far.
  std::size_t reads_started() const { return reads_started_; }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    ++reads_started_;
    return next_.async_read_some(buffers, std::forward<ReadToken>(token));
  }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& b) {
          if (close_override_ != 0 && rewrite_close(b)) {
            write_some(boost::asio::buffer(close_frame_), std::move(handler));
          } else {
            write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  static constexpr std::size_t kKeepBytes = 4096;  // larger buffers are freed after use

  template <class ConstBufferSequence, class Handler>
  void write_some(const ConstBufferSequence& b, Handler&& handler) {
    if (!corked_) {
      next_.async_write_some(b, std::forward<Handler>(handler));
      return;
    }
    std::size_t n = boost::asio::buffer_size(b);
    std::size_t old = buf_.size();
    buf_.resize(old + n);
    boost::asio::buffer_copy(boost::asio::buffer(buf_.data() + old, n), b);
    boost::asio::post(get_executor(),
                      boost::beast::bind_front_handler(std::forward<Handler>(handler),
                                                       boost::system::error_code{}, n));
  }

  // If `b` is a whole server close frame with a code, copies it into
  // close_frame_ with close_override_ as its code.
  template <class ConstBufferSequence>
  bool rewrite_close(const ConstBufferSequence& b) {
    std::size_t n = boost::asio::buffer_size(b);
    if (n < 4 || n > 127) return false;
    close_frame_.resize(n);
    boost::asio::buffer_copy(boost::asio::buffer(close_frame_), b);
    auto byte = [this](std::size_t i) { return static_cast<unsigned char>(close_frame_[i]); };
    if (byte(0) != 0x88 || byte(1) < 2 || byte(1) > 125 || std::size_t{byte(1)} + 2 != n) {
      return false;
    }
    close_frame_[2] = static_cast<char>(close_override_ >> 8);
    close_frame_[3] = static_cast<char>(close_override_ & 0xff);
    close_override_ = 0;
    return true;
  }

  NextLayer next_;
  bool corked_ = false;
  std::size_t reads_started_ = 0;
  std::vector<char> buf_;  // collected while corked
  std::vector<char> out_;  // being written by async_uncork
  uint16_t close_override_ = 0;     // see fail_close_echo
  std::vector<char> close_frame_;   // the rewritten close frame being written
};

// WebSocket teardown (Beast finds these by argument-dependent lookup): hand
// anything still corked to the next layer first (a close frame Beast wrote
// while a batch was corked), then tear the next layer down.
template <class NextLayer>
void teardown(boost::beast::role_type role, CorkStream<NextLayer>& s,
              boost::system::error_code& ec) {
  std::vector<char> rest = s.take_corked();
  if (!rest.empty()) boost::asio::write(s.next_layer(), boost::asio::buffer(rest), ec);
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}

template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, CorkStream<NextLayer>& s,
                    TeardownHandler&& handler) {
  auto rest = std::make_unique<std::vector<char>>(s.take_corked());
  if (rest->empty()) {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, s.next_layer(), std::forward<TeardownHandler>(handler));
    return;
  }
  auto buf = boost::asio::buffer(*rest);
  boost::asio::async_write(
      s.next_layer(), buf,
      [role, &s, rest = std::move(rest), h = std::forward<TeardownHandler>(handler)](
          boost::system::error_code, std::size_t) mutable {
        using boost::beast::websocket::async_teardown;
        async_teardown(role, s.next_layer(), std::move(h));
      });
}

}  // namespace shardd::net
