#pragma once

// Private to the net module: shared state of the listeners and the base class
// of every connection (bounded write queue, idle timer, close state machine).

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "shardd/core/clock.h"
#include "shardd/core/log.h"
#include "shardd/core/metrics.h"
#include "shardd/net/connection.h"
#include "shardd/net/listener.h"

namespace shardd::net {

// Counts open connections globally and per source IP. try_acquire() is called
// on accept (any io thread); the returned Slot gives the place back when the
// connection object dies.
class ConnectionLimiter : public std::enable_shared_from_this<ConnectionLimiter> {
 public:
  class Slot {
   public:
    Slot() = default;
    Slot(std::shared_ptr<ConnectionLimiter> owner, std::string ip)
        : owner_(std::move(owner)), ip_(std::move(ip)) {}
    Slot(Slot&&) noexcept = default;
    Slot& operator=(Slot&& o) noexcept {
      reset();
      owner_ = std::move(o.owner_);
      ip_ = std::move(o.ip_);
      return *this;
    }
    ~Slot() { reset(); }
    void reset() {
      if (owner_) owner_->release(ip_);
      owner_.reset();
    }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    std::shared_ptr<ConnectionLimiter> owner_;
    std::string ip_;
  };

  explicit ConnectionLimiter(const LiveLimits& limits) : limits_(limits) {}

  // A slot, or nullopt with `reason` set ("max_connections"/"max_per_ip").
  std::optional<Slot> try_acquire(const std::string& ip, const char** reason);
  size_t open() const;

  // Connections being refused right now (they get a polite answer before being
  // closed). Bounded so a flood cannot pin descriptors with refusals.
  bool begin_refusal();
  void end_refusal();

 private:
  void release(const std::string& ip);

  const LiveLimits& limits_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  size_t total_ = 0;
  size_t refusing_ = 0;
  std::unordered_map<std::string, uint32_t> per_ip_;
};

// Metrics of one listener (its transport label is fixed: ws, wss, tcp or tls).
struct TransportMetrics {
  TransportMetrics(metrics::Registry& r, std::string_view transport);
  metrics::Gauge& open;
  metrics::Counter& accepted;
  metrics::Counter& refused_limit;
  metrics::Counter& handshake_failed;
  metrics::Counter& bytes_in;
  metrics::Counter& bytes_out;
  metrics::Counter& frames_in;
  metrics::Counter& frames_out;
  metrics::Counter& slow_consumer;
  metrics::Counter& too_large;
  metrics::Counter& state_dropped;  // kState frames over their budget (shared by all transports)
};

// What every connection of the process shares. Outlives all connections
// (owned by NetServer, which waits for connections to end before dying... and
// the io threads are joined before NetServer is destroyed).
struct NetShared {
  NetShared(LiveLimits& l, HandlerFactory f, std::shared_ptr<ConnectionLimiter> lim)
      : limits(l), factory(std::move(f)), limiter(std::move(lim)) {}
  LiveLimits& limits;
  HandlerFactory factory;
  // Time for the output limits' windows (state_queue_soft_s); tests set a
  // FakeClock before the first connection opens.
  SystemClock system_clock;
  const Clock* clock = &system_clock;
  std::shared_ptr<ConnectionLimiter> limiter;
  std::atomic<uint64_t> next_id{1};
  std::atomic<int64_t> live_connections{0};

  // Called (on an io thread) when live_connections drops to zero while armed.
  void connection_gone() {
    if (live_connections.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::function<void()> cb;
    {
      std::lock_guard lock(drained_mu);
      cb = std::move(on_drained);
      on_drained = nullptr;
    }
    if (cb) cb();
  }
  std::mutex drained_mu;
  std::function<void()> on_drained;  // guarded by drained_mu
};

class RtRegistry;

// What the WebSocket front needs from the server (one per ws listener).
struct WsFrontEnv {
  NetShared& shared;
  TransportMetrics& metrics;
  std::function<bool(std::string_view origin)> origin_allowed;  // any thread
  std::string path;
  bool permessage_deflate = false;
  std::string web_root;  // ws.web_root: served under /play/ ("" = nothing)
  // The HTTP fallback transport (/rt/); null when http.enabled is false.
  RtRegistry* rt = nullptr;
  TransportMetrics* rt_metrics = nullptr;
};

// Accepted, admitted sockets go here (on the acceptor's thread); they run on
// the socket's own io context from then on. An empty `slot` means the
// connection is over a limit and is refused politely (HTTP 503 /
// sys.close TOO_MANY_CONNECTIONS). `tls` null: plain.
void start_ws(WsFrontEnv& env, Socket s, std::optional<ConnectionLimiter::Slot> slot,
              std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls);
void start_tcp(NetShared& shared, TransportMetrics& metrics, Socket s, ConnectionLimiter::Slot slot,
               std::string ip, uint16_t port, std::shared_ptr<boost::asio::ssl::context> tls);

class ConnectionBase : public Connection, public std::enable_shared_from_this<ConnectionBase> {
 public:
  ConnectionBase(NetShared& shared, TransportMetrics& metrics, ConnectionLimiter::Slot slot,
                 Transport t, bool tls, std::string ip, uint16_t port, Executor ex);
  ~ConnectionBase() override;

  bool send(OutFrame&& frame) final;
  void close(uint16_t ws_code, std::string_view reason) final;
  void abort(std::string_view why) final;
  size_t queued_bytes() const final { return queued_bytes_; }
  // Bytes of one output class queued and not yet written.
  size_t class_queued_bytes(OutputClass cls) const {
    return cls == OutputClass::kState ? state_bytes_ : queued_bytes_ - state_bytes_;
  }
  ErrorCode drop_code() const final { return drop_code_; }

 protected:
  enum class State : uint8_t { kHandshake, kOpen, kClosing, kDead };

  // Transport hooks (all on the executor).
  // Adjusts a frame before it is queued (TCP: header, compression).
  virtual void prepare_frame(OutFrame& frame) = 0;
  // Writes every frame in inflight_, then calls on_batch_written.
  virtual void write_batch() = 0;
  // Starts the graceful close (WebSocket close frame / TCP FIN).
  virtual void begin_close() = 0;
  // Closes the socket now; the outstanding read then fails and calls finish().
  virtual void close_socket() = 0;

  // Handshake done: creates the handler and arms the idle timer.
  void open_session();
  void on_batch_written(boost::system::error_code ec, size_t bytes);
  // Held for the length of a read handler (which ends by starting the next
  // read): frames sent meanwhile are flushed when it ends.
  class ReadTurn {
   public:
    explicit ReadTurn(ConnectionBase& c) : c_(c) { c_.in_read_turn_ = true; }
    ~ReadTurn() { c_.end_read_turn(input_drained_); }
    ReadTurn(const ReadTurn&) = delete;
    ReadTurn& operator=(const ReadTurn&) = delete;

    // The read this handler started had nothing left in the connection's own
    // buffer to work on and went to the stream below (the socket, or the TLS
    // layer, which may still answer it from its buffer).
    void input_drained() { input_drained_ = true; }

   private:
    ConnectionBase& c_;
    bool input_drained_ = false;
  };
  // Last step, exactly once, from the read loop when it ends.
  void finish(std::string_view why);
  void touch() { last_rx_ = std::chrono::steady_clock::now(); }
  bool deliverable() const { return state_ == State::kOpen && handler_ != nullptr; }
  // Starts a timer that drops the connection if it is still alive after `d`.
  void arm_deadline(std::chrono::milliseconds d, std::string_view why);

  NetShared& shared_;
  TransportMetrics& metrics_;
  std::shared_ptr<ConnectionHandler> handler_;
  State state_ = State::kHandshake;
  std::vector<OutFrame> pending_;   // queued, not yet being written
  std::vector<OutFrame> inflight_;  // being written now (stable during the write)
  std::string close_reason_;        // why we closed (for on_closed / logs)
  uint16_t close_code_ = 1000;
  ErrorCode drop_code_ = ErrorCode::kOk;  // see Connection::drop_code

 private:
  void maybe_write();
  void flush_batched() final;
  // Drops the queued frames that are not being written (closing).
  void discard_pending();
  // Drops the connection as a slow consumer (SLOW_CONSUMER).
  void drop_slow(std::string why);
  void end_read_turn(bool input_drained);
  void schedule_flush();
  void on_flush_hop();
  void arm_idle();

  // Output is written once per burst, not once per message. Frames queued
  // by a read handler wait for its end (ReadTurn). By then the next read has
  // been started:
  //  - when it went to the stream below (the handler consumed everything
  //    that had arrived), the burst is over and the batch is written at
  //    once. This is the common case under moderate load, one message per
  //    wakeup, and it costs no extra pass through the executor's queue (a
  //    pass would also cost a non-blocking epoll_wait, since the reactor
  //    sits in that queue);
  //  - when it was answered from data already buffered, its completion is
  //    queued, and a flush is scheduled through the executor's queue behind
  //    it. Frames queued outside a read handler schedule the same flush.
  // The flush passes itself back through the queue while handlers ahead of
  // it keep adding frames; when a pass finds none added, the batch is
  // written. kMaxFlushHops and kCorkFrames bound the delay.
  //  - frames queued while the thread has an OutputBatch open (a fan-out
  //    to many connections) skip that queue: the batch writes them when it
  //    closes, at the end of the handler that queued them.
  static constexpr uint32_t kMaxFlushHops = 16;
  static constexpr size_t kCorkFrames = 64;

  ConnectionLimiter::Slot slot_;
  boost::asio::steady_timer timer_;  // idle timeout, then close deadline
  std::chrono::steady_clock::time_point last_rx_;
  size_t queued_bytes_ = 0;
  size_t inflight_bytes_ = 0;
  // The kState part of the two above, and its message counts. kNormal is
  // the rest.
  size_t state_bytes_ = 0;
  size_t state_msgs_ = 0;
  size_t inflight_state_bytes_ = 0;
  size_t inflight_state_msgs_ = 0;
  // Since when state_bytes_ has been above limits.state_queue_soft_bytes
  // (time_point{} while it is not).
  std::chrono::steady_clock::time_point state_soft_since_{};
  bool writing_ = false;
  bool flush_scheduled_ = false;
  bool in_read_turn_ = false;
  bool in_batch_ = false;  // joined the thread's OutputBatch; written when it closes
  uint32_t flush_hops_ = 0;
  size_t flush_seen_ = 0;  // pending_.size() at the last pass
  bool close_started_ = false;
  bool finished_ = false;
};

}  // namespace shardd::net
