#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/circular_buffer.hpp>
#include <mutex>
#include <unordered_map>

#include "shardd/gateway/gateway.h"
#include "shardd/gateway/rate_limiter.h"

namespace shardd::gateway {

class SessionImpl;

// Live settings the sessions read (reloadable).
struct SessionLimits {
  std::atomic<uint32_t> resume_grace_ms{60000};
  std::atomic<uint32_t> replay_pushes{256};
  std::atomic<uint32_t> replay_max_bytes{256 * 1024};
};

// State every session shares: router, limits, metrics, registries.
struct Gateway::Shared {
  Shared(const Config& config, net::LiveLimits& limits, metrics::Registry& metrics);

  const std::string server_name;
  net::LiveLimits& limits;
  SessionLimits session_limits;
  metrics::Registry& metrics;
  Router router;

  std::mutex push_mu;
  std::unordered_map<std::string, std::unique_ptr<PushOp>> push_ops;  // guarded by push_mu
  const PushOp* hello = nullptr;
  const PushOp* close = nullptr;
  const PushOp* shutdown = nullptr;
  const PushOp* kicked = nullptr;

  metrics::Gauge& sessions;
  metrics::Gauge& sessions_authenticated;
  metrics::Gauge& sessions_in_grace;
  metrics::Counter& rate_limited;
  metrics::Counter& bad_messages;
  metrics::Counter& resumes_ok;
  metrics::Counter& resumes_resync;
  metrics::Counter& resumes_expired;
  // The codes on the wire; counters by code, made for every code of the
  // table before serving (a code missing from it gets its series on first use).
  ErrorTable error_table;
  std::unordered_map<const ErrorDef*, metrics::Counter*> errors;       // no OK series
  std::unordered_map<const ErrorDef*, metrics::Counter*> disconnects;  // OK: peer/network
  void add_error_counters(ErrorCode code);
  metrics::Counter& error_counter(ErrorCode code);
  metrics::Counter& disconnect_counter(ErrorCode code);
  std::vector<metrics::Counter*> ends;  // by EndReason

  std::vector<std::shared_ptr<SessionListener>> listeners;  // fixed before serving

  std::atomic<uint64_t> next_session_id{1};
  struct Entry {
    std::weak_ptr<SessionImpl> session;
    SessionInfo info;  // kept current by the session (admin listings)
  };
  mutable std::mutex registry_mu;
  // Guarded by registry_mu:
  std::unordered_map<uint64_t, Entry> registry;
  std::unordered_map<std::string, std::weak_ptr<SessionImpl>> by_resume_hash;
};

// The glue between one connection and the session it currently serves.
// Owned by the connection (it is the connection's handler); runs on the
// connection's executor and forwards events to the session, posting them when
// the session lives on another io thread (after a resume onto a connection
// accepted by a different thread).
class Binding final : public net::ConnectionHandler, public std::enable_shared_from_this<Binding> {
 public:
  Binding(std::shared_ptr<net::Connection> conn, std::shared_ptr<SessionImpl> session);

  // net::ConnectionHandler (connection's executor)
  void on_message(std::string_view body, net::Encoding encoding) override;
  void on_bad_frame(const Status& status, bool fatal) override;
  void on_idle() override;
  void on_closed(std::string_view why) override;

  // Called by the session on *its* executor; forwarded to the connection's.
  void send(net::OutFrame&& frame);
  void close(uint16_t ws_code, std::string_view reason);
  void abort(std::string_view why);
  // Points this connection at another session. REQUIRES: connection's executor.
  void retarget(std::shared_ptr<SessionImpl> session);

  net::Connection& connection() { return *conn_; }
  bool same_thread_as(const Session::Executor& ex) const { return conn_->executor() == ex; }

 private:
  template <class F>
  void to_session(F&& f);

  std::shared_ptr<net::Connection> conn_;
  std::shared_ptr<SessionImpl> session_;  // connection's executor only; null after close
  // session_ runs on the connection's executor (comparing two type-erased
  // executors costs more than forwarding a message, so it is done once per
  // session change).
  bool same_executor_ = false;
};

// A player session (see Session). Lives on the executor of the connection it
// was created for.
class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  // Most in-flight requests (dispatched, not answered) per session.
  static constexpr uint32_t kMaxInflight = 64;

  SessionImpl(std::shared_ptr<Gateway::Shared> shared, const net::Connection& conn);
  ~SessionImpl() override;

  // Registers the session, binds it and sends sys.hello. REQUIRES: executor().
  void start(std::shared_ptr<Binding> binding);

  // Session
  uint64_t id() const override { return id_; }
  Executor executor() const override { return executor_; }
  net::Transport transport() const override { return transport_; }
  bool tls() const override { return tls_; }
  const std::string& remote_ip() const override { return remote_ip_; }
  void push(const PushOp& op, const nlohmann::json& d) override;
  void push(const PushOp& op, const std::shared_ptr<const SharedBody>& body) override;
  void close(ErrorCode code, std::string_view msg) override;
  bool closing() const override { return closing_; }
  bool authenticated() const override { return account_id_ != 0; }
  int64_t account_id() const override { return account_id_; }
  const std::string& username() const override { return username_; }
  std::string login(int64_t account_id, const std::string& username) override;
  void end(EndReason reason, std::string_view detail) override;

  // Events from a binding (session's executor). Events from a binding that is
  // no longer this session's are ignored.
  void on_message(Binding* from, std::string_view body, net::Encoding encoding);
  void on_bad_frame(Binding* from, const Status& status, bool fatal);
  void on_idle(Binding* from);
  // `dropped`: Connection::drop_code() of the connection.
  void on_closed(Binding* from, std::string_view why, ErrorCode dropped);
  // Gateway::kick, on executor().
  void kick(const std::string& msg);

  // Delivers a response built by Request. Any thread.
  void deliver(net::OutFrame&& frame, const Route* route, ErrorCode code,
               std::chrono::steady_clock::time_point start);

  // sys.resume, step 2 (this = the resumed session, on its executor): takes
  // over `binding` from `fresh` and answers request `rid` on it.
  void resume(std::shared_ptr<Binding> binding, std::shared_ptr<SessionImpl> fresh, uint64_t rid,
              net::Encoding encoding, uint64_t last_seq);
  // The session whose connection was handed to a resumed session: leaves
  // quietly (no listeners, no close). REQUIRES: executor().
  void retire();
  // Server drain (executor()).
  void drain(const std::string& reason, uint32_t reconnect_after_ms);
  std::shared_ptr<Binding> current_binding() const { return binding_; }
  void reply_error(std::optional<uint64_t> rid, net::Encoding enc, ErrorCode code,
                   std::string_view msg, const nlohmann::json* extra = nullptr);

 protected:
  std::shared_ptr<Session> self() override { return shared_from_this(); }

 private:
  enum class State : uint8_t { kActive, kDetached, kEnded };
  struct Replay {
    uint64_t seq;
    net::OutFrame frame;  // as first sent (re-encoded on replay if the encoding changed)
  };

  void deliver_here(net::OutFrame&& frame, const Route* route, ErrorCode code,
                    std::chrono::steady_clock::time_point start);
  void send(net::OutFrame&& frame);
  void bad_message(std::optional<uint64_t> rid, net::Encoding enc, const Status& st);
  void keep_for_replay(uint64_t seq, const net::OutFrame& frame);
  // Shared part of both push() overloads: `encode` fills the frame for a seq.
  template <class Encode>
  void push_frame(const PushOp& op, Encode&& encode);
  void detach(std::string_view why);
  // end() with an optional message for sys.kicked.
  void end_with(EndReason reason, std::string_view detail, std::string_view msg);
  // Updates this session's registry entry (admin listings). Any thread holding
  // no registry lock.
  template <class Fn>
  void update_info(Fn&& fn);
  void finish(EndReason reason);  // leaves the registry, tells listeners (once)
  void forget_resume_token();
  void unregister();

  std::shared_ptr<Gateway::Shared> shared_;
  const uint64_t id_;
  const Executor executor_;

  // All below: only on executor_.
  net::Transport transport_;
  bool tls_;
  std::string remote_ip_;
  std::shared_ptr<Binding> binding_;  // null while detached / after the end
  State state_ = State::kActive;
  uint64_t push_seq_ = 0;
  net::Encoding push_encoding_ = net::Encoding::kJson;
  TokenBucket bucket_;
  StrikeCounter rate_strikes_;
  StrikeCounter bad_strikes_;
  uint32_t inflight_ = 0;
  ErrorCode close_code_ = ErrorCode::kOk;
  bool closing_ = false;
  bool registered_ = false;
  int64_t account_id_ = 0;
  std::string username_;
  std::string resume_hash_;
  // Grows (doubling) up to session.replay_pushes entries, then reuses its
  // slots: a steady stream of pushes allocates nothing here.
  boost::circular_buffer<Replay> replay_;
  size_t replay_bytes_ = 0;
  uint64_t evicted_seq_ = 0;  // newest replayable push no longer held
  std::unique_ptr<boost::asio::steady_timer> grace_timer_;
  net::Request scratch_;  // decode target, reused
};

}  // namespace shardd::gateway
