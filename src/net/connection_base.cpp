#include <boost/asio/post.hpp>

#include "internal.h"
#include "shardd/net/output_batch.h"

namespace shardd::net {

std::string_view transport_name(Transport t, bool tls) {
  if (t == Transport::kWs) return tls ? "wss" : "ws";
  if (t == Transport::kHttp) return tls ? "https" : "http";
  return tls ? "tls" : "tcp";
}

uint16_t ws_close_code(ErrorCode code) {
  if (code == ErrorCode::kShuttingDown) return 1001;  // going away
  if (code == ErrorCode::kTooLarge) return 1009;
  if (code == ErrorCode::kHeartbeatTimeout) return 4000;
  if (code == ErrorCode::kRateLimited) return 4001;
  if (code == ErrorCode::kProtocolError || code == ErrorCode::kBadRequest) return 4002;
  if (code == ErrorCode::kSlowConsumer) return 4003;
  if (code == ErrorCode::kKicked) return 4004;
  if (code == ErrorCode::kTooManyConnections) return 4005;
  if (code == ErrorCode::kInternal) return 1011;
  return 1000;
}

void LiveLimits::apply(const Config& c) {
  const auto& l = c.limits;
  auto r = std::memory_order_relaxed;
  max_frame_bytes.store(l.max_frame_bytes, r);
  handshake_timeout_ms.store(l.handshake_timeout_ms, r);
  max_connections.store(l.max_connections, r);
  max_connections_per_ip.store(l.max_connections_per_ip, r);
  rate_per_sec.store(l.rate_per_sec, r);
  rate_burst.store(l.rate_burst, r);
  rate_strikes_to_close.store(l.rate_strikes_to_close, r);
  bad_messages_to_close.store(l.bad_messages_to_close, r);
  write_queue_bytes.store(l.write_queue_bytes, r);
  write_queue_messages.store(l.write_queue_messages, r);
  state_queue_hard_bytes.store(l.state_queue_hard_bytes, r);
  state_queue_soft_bytes.store(l.state_queue_soft_bytes, r);
  state_queue_soft_s.store(l.state_queue_soft_s, r);
  heartbeat_ms.store(l.heartbeat_ms, r);
  heartbeat_misses.store(l.heartbeat_misses, r);
  compress_min_bytes.store(c.tcp.compress_min_bytes, r);
  reconnect_after_ms.store(c.server.reconnect_after_ms, r);
  http_max_body_bytes.store(c.http.max_body_bytes, r);
  http_max_batch.store(c.http.max_batch, r);
  http_poll_wait_ms.store(c.http.poll_wait_ms, r);
  http_idle_expiry_ms.store(c.http.idle_expiry_ms, r);
  http_max_sessions_per_ip.store(c.http.max_sessions_per_ip, r);
  http_replay_bytes.store(c.http.replay_bytes, r);
}

std::optional<ConnectionLimiter::Slot> ConnectionLimiter::try_acquire(const std::string& ip,
                                                                      const char** reason) {
  std::lock_guard lock(mu_);
  if (total_ >= limits_.max_connections.load(std::memory_order_relaxed)) {
    *reason = "max_connections";
    return std::nullopt;
  }
  uint32_t& n = per_ip_[ip];
  if (n >= limits_.max_connections_per_ip.load(std::memory_order_relaxed)) {
    if (n == 0) per_ip_.erase(ip);
    *reason = "max_connections_per_ip";
    return std::nullopt;
  }
  ++n;
  ++total_;
  return Slot(shared_from_this(), ip);
}

void ConnectionLimiter::release(const std::string& ip) {
  std::lock_guard lock(mu_);
  --total_;
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return total_;
}

bool ConnectionLimiter::begin_refusal() {
  std::lock_guard lock(mu_);
  if (refusing_ >= 1024) return false;
  ++refusing_;
  return true;
}

void ConnectionLimiter::end_refusal() {
  std::lock_guard lock(mu_);
  --refusing_;
}

TransportMetrics::TransportMetrics(metrics::Registry& r, std::string_view transport)
    : open(r.gauge("shardd_connections", "Open client connections.",
                   {{"transport", std::string(transport)}})),
      accepted(r.counter("shardd_connections_accepted_total", "Accepted client connections.",
                         {{"transport", std::string(transport)}})),
      refused_limit(r.counter("shardd_connections_refused_total",
                              "Connections refused by max_connections/max_connections_per_ip.",
                              {{"transport", std::string(transport)}})),
      handshake_failed(r.counter("shardd_handshake_failures_total",
                                 "Connections that failed or timed out in the handshake.",
                                 {{"transport", std::string(transport)}})),
      bytes_in(r.counter("shardd_bytes_in_total", "Payload bytes received.",
                         {{"transport", std::string(transport)}})),
      bytes_out(r.counter("shardd_bytes_out_total", "Bytes written.",
                          {{"transport", std::string(transport)}})),
      frames_in(r.counter("shardd_frames_in_total", "Messages received.",
                          {{"transport", std::string(transport)}})),
      frames_out(r.counter("shardd_frames_out_total", "Messages written.",
                           {{"transport", std::string(transport)}})),
      slow_consumer(r.counter("shardd_slow_consumer_disconnects_total",
                              "Connections dropped because their write queue was full.",
                              {{"transport", std::string(transport)}})),
      too_large(r.counter("shardd_too_large_total", "Inbound messages over max_frame_bytes.",
                          {{"transport", std::string(transport)}})),
      state_dropped(r.counter("shardd_output_dropped_total",
                              "Outbound messages dropped because their output class was over "
                              "its budget (the connection stays).",
                              {{"class", std::string(output_class_name(OutputClass::kState))}})) {}

ConnectionBase::ConnectionBase(NetShared& shared, TransportMetrics& metrics,
                               ConnectionLimiter::Slot slot, Transport t, bool tls, std::string ip,
                               uint16_t port, Executor ex)
    : Connection(shared.next_id.fetch_add(1, std::memory_order_relaxed), t, tls, std::move(ip),
                 port, ex),
      shared_(shared),
      metrics_(metrics),
      slot_(std::move(slot)),
      timer_(ex) {
  metrics_.open.add(1);
  shared_.live_connections.fetch_add(1, std::memory_order_relaxed);
}

ConnectionBase::~ConnectionBase() {
  metrics_.open.add(-1);
  shared_.connection_gone();
}

void ConnectionBase::open_session() {
  state_ = State::kOpen;
  touch();
  handler_ = shared_.factory(shared_from_this());
  if (state_ == State::kOpen) arm_idle();
}

bool ConnectionBase::send(OutFrame&& frame) {
  if (state_ != State::kOpen && state_ != State::kClosing) return false;
  if (close_started_) return false;
  const auto& lim = shared_.limits;
  constexpr auto r = std::memory_order_relaxed;
  const size_t n = frame.size();
  const size_t max_bytes = lim.write_queue_bytes.load(r);
  const size_t max_msgs = lim.write_queue_messages.load(r);
  const size_t msgs = pending_.size() + inflight_.size();
  const size_t soft = lim.state_queue_soft_bytes.load(r);
  // The soft limit, as in Redis, is checked whenever output is queued.
  if (state_soft_since_ != std::chrono::steady_clock::time_point{}) {
    auto now = shared_.clock->steady();
    if (state_bytes_ <= soft) {
      state_soft_since_ = {};  // the limit was raised by a reload
    } else if (now - state_soft_since_ >= std::chrono::seconds(lim.state_queue_soft_s.load(r))) {
      drop_slow("slow consumer: " + std::to_string(state_bytes_) +
                " bytes of state output queued for more than " +
                std::to_string(lim.state_queue_soft_s.load(r)) +
                " s (limits.state_queue_soft_bytes)");
      return false;
    }
  }
  if (frame.cls == OutputClass::kState) {
    // Over its own budget, or the whole queue is full: this refresh is lost
    // (a later one supersedes it), the connection and its kNormal output go on.
    if (state_bytes_ + n > lim.state_queue_hard_bytes.load(r) || queued_bytes_ + n > max_bytes ||
        msgs >= max_msgs) {
      metrics_.state_dropped.inc();
      return false;
    }
  } else if (queued_bytes_ - state_bytes_ + n > max_bytes || msgs - state_msgs_ >= max_msgs) {
    drop_slow("slow consumer: write queue full (" + std::to_string(queued_bytes_) + " bytes, " +
              std::to_string(msgs) + " messages)");
    return false;
  }
  prepare_frame(frame);
  queued_bytes_ += frame.size();
  if (frame.cls == OutputClass::kState) {
    state_bytes_ += frame.size();
    ++state_msgs_;
    if (state_bytes_ > soft && state_soft_since_ == std::chrono::steady_clock::time_point{}) {
      state_soft_since_ = shared_.clock->steady();
    }
  }
  pending_.push_back(std::move(frame));
  if (in_read_turn_ || in_batch_) return true;  // written when the turn or batch ends
  if (auto* batch = OutputBatch::current(); batch && !writing_ && !flush_scheduled_) {
    in_batch_ = true;
    batch->add(shared_from_this());
    return true;
  }
  schedule_flush();
  return true;
}

void ConnectionBase::flush_batched() {
  in_batch_ = false;
  if (in_read_turn_ || flush_scheduled_) return;
  maybe_write();
}

void ConnectionBase::drop_slow(std::string why) {
  metrics_.slow_consumer.inc();
  drop_code_ = ErrorCode::kSlowConsumer;
  abort(why);
}

void ConnectionBase::end_read_turn(bool input_drained) {
  in_read_turn_ = false;
  if (!input_drained) {
    schedule_flush();
    return;
  }
  flush_scheduled_ = false;  // a flush pass still queued finds nothing to do
  maybe_write();
}

void ConnectionBase::schedule_flush() {
  if (writing_ || flush_scheduled_ || pending_.empty() || state_ == State::kDead) return;
  flush_scheduled_ = true;
  flush_hops_ = 0;
  flush_seen_ = pending_.size();
  boost::asio::post(executor(), [self = shared_from_this()] { self->on_flush_hop(); });
}

void ConnectionBase::on_flush_hop() {
  if (!flush_scheduled_) return;  // written at the end of a read turn meanwhile
  if (state_ != State::kDead && flush_hops_ < kMaxFlushHops && pending_.size() > flush_seen_ &&
      pending_.size() < kCorkFrames) {
    ++flush_hops_;
    flush_seen_ = pending_.size();
    boost::asio::post(executor(), [self = shared_from_this()] { self->on_flush_hop(); });
    return;
  }
  flush_scheduled_ = false;
  maybe_write();
}

void ConnectionBase::maybe_write() {
  if (writing_ || pending_.empty() || state_ == State::kDead) return;
  inflight_.clear();
  inflight_.swap(pending_);
  inflight_bytes_ = 0;
  inflight_state_bytes_ = 0;
  inflight_state_msgs_ = 0;
  for (const auto& f : inflight_) {
    inflight_bytes_ += f.size();
    if (f.cls == OutputClass::kState) {
      inflight_state_bytes_ += f.size();
      ++inflight_state_msgs_;
    }
  }
  writing_ = true;
  write_batch();
}

void ConnectionBase::on_batch_written(boost::system::error_code ec, size_t bytes) {
  writing_ = false;
  metrics_.bytes_out.inc(bytes);
  metrics_.frames_out.inc(inflight_.size());
  queued_bytes_ -= inflight_bytes_;
  inflight_bytes_ = 0;
  state_bytes_ -= inflight_state_bytes_;
  state_msgs_ -= inflight_state_msgs_;
  inflight_state_bytes_ = 0;
  inflight_state_msgs_ = 0;
  if (state_bytes_ <= shared_.limits.state_queue_soft_bytes.load(std::memory_order_relaxed)) {
    state_soft_since_ = {};
  }
  inflight_.clear();
  if (inflight_.capacity() > 256) inflight_ = {};  // give a burst's memory back
  if (ec) {
    if (state_ != State::kDead) abort("write failed: " + ec.message());
    return;
  }
  if (!pending_.empty()) {
    maybe_write();
  } else if (state_ == State::kClosing && !close_started_) {
    close_started_ = true;
    begin_close();
  }
}

void ConnectionBase::close(uint16_t ws_code, std::string_view reason) {
  if (state_ == State::kHandshake) return abort(reason);
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  close_code_ = ws_code;
  close_reason_ = std::string(reason);
  arm_deadline(std::chrono::milliseconds(
                   shared_.limits.handshake_timeout_ms.load(std::memory_order_relaxed)),
               "close handshake timed out");
  if (!writing_ && pending_.empty()) {
    close_started_ = true;
    begin_close();
  }
}

void ConnectionBase::abort(std::string_view why) {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  if (close_reason_.empty()) close_reason_ = std::string(why);
  discard_pending();
  timer_.cancel();
  close_socket();
}

void ConnectionBase::discard_pending() {
  pending_.clear();
  queued_bytes_ = inflight_bytes_;
  state_bytes_ = inflight_state_bytes_;
  state_msgs_ = inflight_state_msgs_;
  state_soft_since_ = {};
}

void ConnectionBase::arm_deadline(std::chrono::milliseconds d, std::string_view why) {
  timer_.expires_after(d);
  timer_.async_wait(
      [self = shared_from_this(), why = std::string(why)](boost::system::error_code ec) {
        if (!ec) self->abort(why);
      });
}

void ConnectionBase::arm_idle() {
  auto deadline = last_rx_ + shared_.limits.idle_timeout();
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->state_ != State::kOpen) return;
    auto now = std::chrono::steady_clock::now();
    if (now < self->last_rx_ + self->shared_.limits.idle_timeout()) {
      self->arm_idle();  // activity since the timer was set: sleep the remainder
      return;
    }
    if (self->handler_) self->handler_->on_idle();
    if (self->state_ == State::kOpen) self->abort("idle timeout");
  });
}

void ConnectionBase::finish(std::string_view why) {
  if (finished_) return;
  finished_ = true;
  if (state_ != State::kDead) {
    state_ = State::kDead;
    close_socket();
  }
  timer_.cancel();
  discard_pending();
  if (close_reason_.empty()) close_reason_ = std::string(why);
  if (handler_) {
    auto h = std::move(handler_);
    h->on_closed(close_reason_);
  }
  slot_.reset();
}

}  // namespace shardd::net
