#pragma once

// A WebSocket client connection for the load generators, on Boost.Beast
// (websocket::stream over a plain TCP socket).
//
// Outbound text messages are queued and written one after another (Beast
// allows one write in flight per stream); the queue reuses its strings, so a
// steady load allocates nothing per message. Inbound text/binary messages are
// handed to on_message(); Beast answers pings and reports the close.
//
// Not thread-safe: every call must come from the thread running the
// io_context the connection was created on. The owner keeps the object alive
// until that io_context has stopped (handlers capture `this`).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "external_includes.h"

namespace shardd::bench {

class WsClient {
 public:
  // Where the upgrade request goes: the Host header value and the target.
  struct Upgrade {
    std::string host;    // "host:port"
    std::string target;  // "/ws"
  };

  // `max_message_bytes` bounds one inbound message.
  WsClient(boost::asio::io_context& ctx, size_t max_message_bytes);
  virtual ~WsClient() = default;
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects and performs the WebSocket handshake; then on_open(). On any
  // failure on_closed() is called once. `upgrade` must outlive the handshake.
  void start(const boost::asio::ip::tcp::endpoint& endpoint, const Upgrade& upgrade);

  // Queues one text message; flush() starts sending.
  void queue_text(std::string_view payload);
  // Starts writing queued messages unless a write is in progress (its
  // completion then continues with whatever was queued meanwhile).
  void flush();
  // Drops the connection now with a TCP reset (no TIME_WAIT left behind).
  // on_closed() is not called.
  void close_now();

  bool is_open() const { return state_ == State::kOpen; }

  static Upgrade make_upgrade(const std::string& host, uint16_t port, const std::string& path);
  // The first address `host`:`port` resolves to; nullopt and `error` set if none.
  static std::optional<boost::asio::ip::tcp::endpoint> resolve(const std::string& host,
                                                               uint16_t port, std::string* error);

 protected:
  // Handshake done.
  virtual void on_open() = 0;
  // One complete text or binary message. `payload` is valid during the call.
  virtual void on_message(std::string_view payload) = 0;
  // Called after each delivered message (a good place to flush()).
  virtual void on_read_done() {}
  // Connection failed or ended (not called after close_now()).
  virtual void on_closed(std::string_view why) = 0;

 private:
  enum class State : uint8_t { kIdle, kConnecting, kOpen, kClosed };

  void do_read();
  void write_next();
  void drop_socket();
  void fail(std::string_view why);

  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::flat_buffer rbuf_;
  State state_ = State::kIdle;
  bool writing_ = false;
  // Two message batches: `queued_` fills while `sending_` is written. Only
  // the first *_count_ strings are live; the rest keep their capacity.
  std::vector<std::string> queued_;
  std::vector<std::string> sending_;
  size_t queued_count_ = 0;
  size_t sending_count_ = 0;
  size_t sending_next_ = 0;
};

}  // namespace shardd::bench
