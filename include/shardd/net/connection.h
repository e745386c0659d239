#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "shardd/core/config.h"
#include "shardd/core/error_code.h"
#include "shardd/core/metrics.h"
#include "shardd/core/status.h"
#include "shardd/net/codec/message.h"

namespace shardd::net {

// kHttp: the HTTP fallback transport (server-sent events / long polling).
enum class Transport : uint8_t { kWs, kTcp, kHttp };

// "ws", "wss", "tcp", "tls", "http" or "https".
std::string_view transport_name(Transport t, bool tls);

// WebSocket close code used when closing for `code` (1001 for SHUTTING_DOWN,
// 1009 TOO_LARGE, 4000-range for shardd reasons; see docs/protocol.md).
uint16_t ws_close_code(ErrorCode code);

// Limits that SIGHUP can change while connections are open. Written by the app
// on reload, read (relaxed) on the io threads. Plain values, no locks.
struct LiveLimits {
  std::atomic<uint32_t> max_frame_bytes{64 * 1024};
  std::atomic<uint32_t> handshake_timeout_ms{5000};
  std::atomic<uint32_t> max_connections{10000};
  std::atomic<uint32_t> max_connections_per_ip{64};
  std::atomic<double> rate_per_sec{50};
  std::atomic<uint32_t> rate_burst{100};
  std::atomic<uint32_t> rate_strikes_to_close{50};
  std::atomic<uint32_t> bad_messages_to_close{10};
  std::atomic<uint32_t> write_queue_bytes{1024 * 1024};
  std::atomic<uint32_t> write_queue_messages{4096};
  std::atomic<uint32_t> state_queue_hard_bytes{256 * 1024};
  std::atomic<uint32_t> state_queue_soft_bytes{64 * 1024};
  std::atomic<uint32_t> state_queue_soft_s{10};
  std::atomic<uint32_t> heartbeat_ms{5000};
  std::atomic<uint32_t> heartbeat_misses{3};
  std::atomic<uint32_t> compress_min_bytes{0};
  std::atomic<uint32_t> reconnect_after_ms{5000};
  // [http]: the HTTP fallback transport.
  std::atomic<uint32_t> http_max_body_bytes{64 * 1024};
  std::atomic<uint32_t> http_max_batch{64};
  std::atomic<uint32_t> http_poll_wait_ms{25000};
  std::atomic<uint32_t> http_idle_expiry_ms{15000};
  std::atomic<uint32_t> http_max_sessions_per_ip{16};
  std::atomic<uint32_t> http_replay_bytes{256 * 1024};

  void apply(const Config& config);
  std::chrono::milliseconds idle_timeout() const {
    return std::chrono::milliseconds(uint64_t{heartbeat_ms.load(std::memory_order_relaxed)} *
                                     heartbeat_misses.load(std::memory_order_relaxed));
  }
};

// Events of one connection, delivered on the connection's executor, in order.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // One complete inbound message; `body` is only valid during the call.
  virtual void on_message(std::string_view body, Encoding encoding) = 0;
  // A frame the transport could not turn into a message. Not `fatal`: only that
  // frame is lost (e.g. corrupt zlib body) and the connection goes on. `fatal`:
  // the byte stream cannot be trusted any more (TCP flag/sequence violation,
  // oversize frame); the handler should send its final frame and close.
  virtual void on_bad_frame(const Status& status, bool fatal) = 0;
  // Nothing was received for LiveLimits::idle_timeout().
  virtual void on_idle() = 0;
  // The connection is finished. Called exactly once; no call follows it.
  virtual void on_closed(std::string_view why) = 0;
};

// One client connection (WebSocket, framed TCP or HTTP fallback, plain or TLS). Owns its
// stream, read buffer and a bounded write queue; stays alive while it has
// async operations outstanding.
//
// Thread-safety: every method REQUIRES the caller to be on executor(), except
// the const accessors which may be called anywhere.
class Connection {
 public:
  using Executor = boost::asio::io_context::executor_type;
  virtual ~Connection() = default;

  // Queues a message. Returns false if the connection is closing/closed, or
  // the frame went over its output class's budget (OutputClass): a kNormal
  // frame over the write queue limits drops the connection as a slow
  // consumer (the handler then sees on_closed); a kState frame over its
  // budget is discarded and the connection stays, unless its backlog has
  // been above the soft limit for too long (then it is dropped as well).
  virtual bool send(OutFrame&& frame) = 0;
  // Sends what is queued, then closes gracefully (WebSocket close frame with
  // `ws_code` and `reason`; TCP FIN). Bounded by the handshake timeout, after
  // which the socket is dropped.
  virtual void close(uint16_t ws_code, std::string_view reason) = 0;
  // Drops the connection now, discarding queued messages.
  virtual void abort(std::string_view why) = 0;
  // Bytes queued but not yet written.
  virtual size_t queued_bytes() const = 0;
  // Why the transport itself dropped the connection, for the handler's
  // on_closed: SLOW_CONSUMER (write queue full), TOO_LARGE (WebSocket message
  // over the limit), OK otherwise (closed by the peer, the network or the
  // handler).
  virtual ErrorCode drop_code() const { return ErrorCode::kOk; }

  uint64_t id() const { return id_; }
  Transport transport() const { return transport_; }
  bool tls() const { return tls_; }
  const std::string& remote_ip() const { return remote_ip_; }
  uint16_t remote_port() const { return remote_port_; }
  Executor executor() const { return executor_; }

 protected:
  friend class OutputBatch;
  // Called by the OutputBatch this connection joined (see send), on
  // executor(), when the batch closes: writes what is queued.
  virtual void flush_batched() {}

  Connection(uint64_t id, Transport t, bool tls, std::string ip, uint16_t port, Executor ex)
      : id_(id),
        transport_(t),
        tls_(tls),
        remote_ip_(std::move(ip)),
        remote_port_(port),
        executor_(ex) {}

 private:
  const uint64_t id_;
  const Transport transport_;
  const bool tls_;
  const std::string remote_ip_;
  const uint16_t remote_port_;
  const Executor executor_;
};

// Creates the handler for a connection that finished its handshake. Called on
// the connection's executor. Must not return null.
using HandlerFactory =
    std::function<std::shared_ptr<ConnectionHandler>(const std::shared_ptr<Connection>&)>;

}  // namespace shardd::net
