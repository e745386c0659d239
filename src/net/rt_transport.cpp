#include "rt_transport.h"

#include <openssl/crypto.h>

#include <boost/asio/post.hpp>

#include "shardd/core/crypto.h"

namespace shardd::net {

namespace asio = boost::asio;

namespace {

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("net");
  return l;
}

}  // namespace

Status new_rt_credentials(std::string* id, std::string* secret) {
  Status st = random_token(id);
  if (st.ok()) st = random_token(secret);
  return st;
}

// ---------------------------------------------------------------- RtRegistry

bool RtRegistry::add(const std::string& id, const std::string& ip, std::weak_ptr<RtTransport> t) {
  std::lock_guard lock(mu_);
  uint32_t& n = per_ip_[ip];
  if (n >= limits_.http_max_sessions_per_ip.load(std::memory_order_relaxed)) {
    if (n == 0) per_ip_.erase(ip);
    return false;
  }
  ++n;
  by_id_.emplace(id, Entry{std::move(t), ip});
  return true;
}

void RtRegistry::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto ip = per_ip_.find(it->second.ip);
  if (ip != per_ip_.end() && --ip->second == 0) per_ip_.erase(ip);
  by_id_.erase(it);
}

std::shared_ptr<RtTransport> RtRegistry::find(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : it->second.transport.lock();
}

size_t RtRegistry::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

// ---------------------------------------------------------------- RtTransport

RtTransport::RtTransport(NetShared& shared, TransportMetrics& metrics, ConnectionLimiter::Slot slot,
                         bool tls, std::string ip, uint16_t port, Executor ex, RtRegistry& registry,
                         std::string id, std::string secret)
    : ConnectionBase(shared, metrics, std::move(slot), Transport::kHttp, tls, std::move(ip), port,
                     ex),
      registry_(registry),
      id_(std::move(id)),
      secret_(std::move(secret)),
      expiry_(ex) {}

RtTransport::~RtTransport() {
  if (registered_) registry_.remove(id_);
}

bool RtTransport::secret_matches(std::string_view secret) const {
  return secret.size() == secret_.size() &&
         CRYPTO_memcmp(secret.data(), secret_.data(), secret_.size()) == 0;
}

bool RtTransport::start() {
  if (!registry_.add(id_, remote_ip(), std::weak_ptr<RtTransport>(self()))) return false;
  registered_ = true;
  metrics_.accepted.inc();
  open_session();
  arm_expiry();
  return true;
}

void RtTransport::write_batch() {
  size_t bytes = 0;
  for (const OutFrame& f : inflight_) {
    if (f.encoding != Encoding::kJson) {
      // Sessions answer in the encoding of the request, and requests over
      // HTTP are JSON: a MessagePack frame here is a bug, not client input.
      lg().error("http transport {}: dropped a MessagePack frame (JSON only)", id());
      continue;
    }
    auto text = std::make_shared<std::string>();
    f.append_to(text.get());
    bytes += text->size();
    log_.push_back(RtEvent{next_no_++, std::move(text)});
  }
  batch_open_ = true;
  batch_through_ = next_no_ - 1;
  batch_bytes_ = bytes;
  pump();
  if (batch_open_ && batch_through_ <= sent_through_) {  // nothing in it (all dropped)
    batch_open_ = false;
    on_batch_written({}, 0);
  }
}

void RtTransport::pump() {
  if (delivering_ || !sink_ || ended_) return;
  if (log_.empty() || log_.back().no < cursor_) return;  // nothing new for this sink
  std::vector<RtEvent> events;
  for (const RtEvent& e : log_) {
    if (e.no >= cursor_) events.push_back(e);
  }
  delivering_ = true;
  delivering_through_ = events.back().no;
  cursor_ = delivering_through_ + 1;
  const uint64_t token = ++delivery_token_;
  auto sink = sink_;
  if (!sink_stream_) {  // a poll answers once
    sink_.reset();
    arm_expiry();
  }
  asio::post(sink->sink_executor(), [sink, t = self(), token, ev = std::move(events)]() mutable {
    sink->deliver(std::move(t), token, std::move(ev));
  });
}

void RtTransport::delivered(uint64_t token, bool ok) {
  if (!delivering_ || token != delivery_token_) return;
  delivering_ = false;
  if (ok) {
    if (delivering_through_ > sent_through_) {
      for (const RtEvent& e : log_) {
        if (e.no > sent_through_ && e.no <= delivering_through_) sent_bytes_ += e.text->size();
      }
      sent_through_ = delivering_through_;
    }
    trim_replay();
    if (batch_open_ && sent_through_ >= batch_through_) {
      batch_open_ = false;
      on_batch_written({}, batch_bytes_);  // may queue the next batch (write_batch)
    }
  } else if (sink_ && sink_stream_) {
    // The stream broke: the client reconnects with its Last-Event-ID.
    sink_.reset();
    arm_expiry();
  }
  pump();
}

void RtTransport::attach(std::shared_ptr<EventSink> sink, bool stream, uint64_t last) {
  auto refuse = [&](SinkEnd why) {
    asio::post(sink->sink_executor(), [sink, why] { sink->end(why); });
  };
  if (ended_) return refuse(SinkEnd::kClosed);
  // A client may have read events whose delivery report is still on its way.
  const uint64_t known = delivering_ ? std::max(sent_through_, delivering_through_) : sent_through_;
  if (last > known) return refuse(SinkEnd::kAhead);
  if (last < lost_through_) {
    refuse(SinkEnd::kLost);
    abort("http transport: the client asked for events it no longer holds (after " +
          std::to_string(last) + ", kept from " + std::to_string(lost_through_ + 1) + ")");
    return;
  }
  trim_acked(last);
  end_sink(SinkEnd::kReplaced);
  sink_ = std::move(sink);
  sink_stream_ = stream;
  cursor_ = last + 1;
  expiry_.cancel();
  pump();
}

void RtTransport::detach(const EventSink* sink) {
  if (!sink_ || sink_.get() != sink) return;
  sink_.reset();
  if (!ended_) arm_expiry();
}

void RtTransport::ack(uint64_t last) {
  if (last <= sent_through_) trim_acked(last);
}

void RtTransport::trim_acked(uint64_t last) {
  while (!log_.empty() && log_.front().no <= last) {
    if (log_.front().no <= sent_through_) sent_bytes_ -= log_.front().text->size();
    log_.pop_front();
  }
}

void RtTransport::trim_replay() {
  const size_t keep = shared_.limits.http_replay_bytes.load(std::memory_order_relaxed);
  while (sent_bytes_ > keep && !log_.empty() && log_.front().no <= sent_through_) {
    sent_bytes_ -= log_.front().text->size();
    lost_through_ = log_.front().no;
    log_.pop_front();
  }
}

void RtTransport::receive(const std::vector<std::string>& messages) {
  if (!deliverable()) return;
  ReadTurn turn(*this);
  turn.input_drained();  // the whole send is handled in this turn
  for (const std::string& m : messages) {
    metrics_.bytes_in.inc(m.size());
    metrics_.frames_in.inc();
    touch();
    handler_->on_message(m, Encoding::kJson);
    if (!deliverable()) break;
  }
}

void RtTransport::close_by_client() {
  if (state_ == State::kDead) return;
  abort("closed by the client (POST /rt/{id}/close)");
}

void RtTransport::arm_expiry() {
  const auto ms =
      std::chrono::milliseconds(shared_.limits.http_idle_expiry_ms.load(std::memory_order_relaxed));
  expiry_.expires_after(ms);
  expiry_.async_wait([t = self(), ms](boost::system::error_code ec) {
    if (ec || t->sink_ || t->state_ == State::kDead) return;
    t->abort("http transport: no event stream or poll for " + std::to_string(ms.count()) +
             " ms (http.idle_expiry_ms)");
  });
}

void RtTransport::end_sink(SinkEnd why) {
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink_.reset();
  asio::post(sink->sink_executor(), [sink, why] { sink->end(why); });
}

// Everything queued was delivered (the last of it, sys.close, included).
void RtTransport::begin_close() {
  end_transport();
}

void RtTransport::close_socket() {
  end_transport();
}

void RtTransport::end_transport() {
  if (ended_) return;
  ended_ = true;
  if (registered_) {
    registry_.remove(id_);
    registered_ = false;
  }
  end_sink(SinkEnd::kClosed);
  expiry_.cancel();
  // No read loop will notice the end: finish from the executor's queue (not
  // from inside abort(), whose caller may be the handler itself).
  asio::post(executor(), [t = self()] { t->finish("http transport closed"); });
}

}  // namespace shardd::net
