#pragma once

// The HTTP fallback transport's session side: one RtTransport per
// `POST /rt/open`, a Connection like a WebSocket but with no socket of its
// own. Requests arrive by `POST /rt/{id}/send`; what the server sends goes into
// an event log, numbered 1, 2, 3 …, and down whichever request is attached to
// it: an event stream (`GET /rt/{id}/events`, server-sent events) or a long
// poll (`?poll=1`). Internal to shardd_net.
//
// Threads. The transport lives on one executor (that of the socket whose
// request opened it). The requests that reach it come on other sockets, on
// any io thread: they find it in the RtRegistry (a locked map), check its
// secret (immutable) and `post` their work to its executor. An attached
// request is an EventSink on its own socket's executor; the transport posts
// events to it and the sink posts back when they are written.
//
// Delivery and acknowledgement. An event leaves the log only when the client
// acknowledges it: a poll's or stream's `last` (the last event number it
// has), or `ack` on a send. Delivered but unacknowledged events are kept (up
// to http.replay_bytes) so that a stream that broke can start again from its
// Last-Event-ID without a gap; a client asking for events already forgotten
// gets 410 and must open a new transport and `sys.resume` the session.
// Events not yet delivered are still in ConnectionBase's write queue (the
// batch being "written" completes only when a request has carried it): with
// no request attached, output piles up under the usual write-queue limits
// and a client that stops reading is dropped as a slow consumer, as on any
// transport.
//
// Life. A transport with no stream or poll attached for http.idle_expiry_ms
// is dropped like a socket that died: a logged-in session then waits for
// `sys.resume` (session.resume_grace_ms). The heartbeat rule (a message every
// heartbeat_ms) applies as on the other transports.

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "internal.h"
#include "rt_http.h"

namespace shardd::net {

class RtTransport;

// Why a transport lets go of an attached request.
enum class SinkEnd : uint8_t {
  kReplaced,  // another stream or poll attached (a poll answers with no events)
  kClosed,    // the transport ended (410 for a poll; the stream ends)
  kLost,      // `last` names events already forgotten (410)
  kAhead,     // `last` names events never sent (400)
};

// A request attached to a transport: an event stream or a long poll. Every
// method is called on sink_executor() (the transport posts them there).
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Writes `events`, then posts RtTransport::delivered(token, ok) to the
  // transport's executor: exactly once per call, whatever happens (a sink
  // that already answered reports ok = false; the events stay in the log).
  virtual void deliver(std::shared_ptr<RtTransport> t, uint64_t token,
                       std::vector<RtEvent> events) = 0;
  // The transport is done with this sink (it was not delivering to it).
  virtual void end(SinkEnd why) = 0;
  virtual Connection::Executor sink_executor() const = 0;
};

// The open HTTP transports by id, and their count per source address.
// Thread-safe.
class RtRegistry {
 public:
  explicit RtRegistry(const LiveLimits& limits) : limits_(limits) {}

  // Adds `t` under `id`. False if `ip` has http.max_sessions_per_ip open.
  bool add(const std::string& id, const std::string& ip, std::weak_ptr<RtTransport> t);
  void remove(const std::string& id);
  // The live transport with this id, or null.
  std::shared_ptr<RtTransport> find(std::string_view id) const;
  size_t size() const;

 private:
  struct Entry {
    std::weak_ptr<RtTransport> transport;
    std::string ip;
  };
  const LiveLimits& limits_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  std::unordered_map<std::string, Entry> by_id_;
  std::unordered_map<std::string, uint32_t> per_ip_;
};

class RtTransport final : public ConnectionBase {
 public:
  // `id` and `secret` are random (crypto.h random_token). REQUIRES: `registry`
  // outlives the transport (NetServer owns both and drains connections first).
  RtTransport(NetShared& shared, TransportMetrics& metrics, ConnectionLimiter::Slot slot,
              bool tls, std::string ip, uint16_t port, Executor ex, RtRegistry& registry,
              std::string id, std::string secret);
  ~RtTransport() override;

  // Any thread.
  const std::string& rt_id() const { return id_; }
  // Constant time in the secret's content.
  bool secret_matches(std::string_view secret) const;

  // The rest REQUIRES executor().
  // Registers the transport and opens its session (sys.hello is event 1).
  // False if the source address has too many transports (nothing opened).
  bool start();
  // Attaches a stream (`stream`) or a poll whose client has every event up to
  // `last`. Replaces the request attached before (SinkEnd::kReplaced).
  void attach(std::shared_ptr<EventSink> sink, bool stream, uint64_t last);
  // The attached request ended on its own (poll wait over, stream closed by
  // the client). Ignored if `sink` is not the one attached.
  void detach(const EventSink* sink);
  // The client has every event up to `last` (from a send's `ack`).
  void ack(uint64_t last);
  // Requests from one send, in order.
  void receive(const std::vector<std::string>& messages);
  // A sink finished writing what deliver() gave it.
  void delivered(uint64_t token, bool ok);
  // POST /rt/{id}/close: the client is leaving (like closing a socket).
  void close_by_client();

 protected:
  void prepare_frame(OutFrame&) override {}
  void write_batch() override;
  void begin_close() override;
  void close_socket() override;

 private:
  std::shared_ptr<RtTransport> self() {
    return std::static_pointer_cast<RtTransport>(shared_from_this());
  }
  void pump();
  void end_sink(SinkEnd why);
  void trim_acked(uint64_t last);
  void trim_replay();
  void arm_expiry();
  void end_transport();

  RtRegistry& registry_;
  const std::string id_;
  const std::string secret_;
  boost::asio::steady_timer expiry_;

  std::deque<RtEvent> log_;  // unacknowledged events, in number order
  uint64_t next_no_ = 1;
  uint64_t sent_through_ = 0;   // highest event a sink wrote (ok)
  uint64_t lost_through_ = 0;   // highest event forgotten unacknowledged
  size_t sent_bytes_ = 0;       // bytes of log_ events <= sent_through_

  std::shared_ptr<EventSink> sink_;  // the attached request, if any
  bool sink_stream_ = false;
  uint64_t cursor_ = 1;  // next event to give the attached sink

  bool delivering_ = false;  // a sink is writing (at most one at a time)
  uint64_t delivery_token_ = 0;
  uint64_t delivering_through_ = 0;

  // ConnectionBase's current batch: in the log, waiting to be delivered.
  bool batch_open_ = false;
  uint64_t batch_through_ = 0;
  size_t batch_bytes_ = 0;

  bool registered_ = false;
  bool ended_ = false;
};

// A transport's id and secret, fresh from the CSPRNG. UNAVAILABLE if it failed.
Status new_rt_credentials(std::string* id, std::string* secret);

}  // namespace shardd::net
