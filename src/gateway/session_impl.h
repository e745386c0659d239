#pragma once

#include <mutex>
#include <unordered_map>

#include "shardd/gateway/gateway.h"
#include "shardd/gateway/rate_limiter.h"

namespace shardd::gateway {

// State every session shares: router, limits, metrics, registry.
struct Gateway::Shared {
  Shared(const Config& config, net::LiveLimits& limits, metrics::Registry& metrics);

  const std::string server_name;
  net::LiveLimits& limits;
  metrics::Registry& metrics;
  Router router;

  std::mutex push_mu;
  std::unordered_map<std::string, std::unique_ptr<PushOp>> push_ops;  // guarded by push_mu
  const PushOp* hello = nullptr;
  const PushOp* close = nullptr;
  const PushOp* shutdown = nullptr;

  metrics::Gauge& sessions;
  metrics::Counter& rate_limited;
  metrics::Counter& bad_messages;
  std::vector<metrics::Counter*> errors;       // by ErrorCode
  std::vector<metrics::Counter*> disconnects;  // by ErrorCode of our close; [0] = peer/error

  std::atomic<uint64_t> next_session_id{1};
  mutable std::mutex registry_mu;
  std::unordered_map<uint64_t, std::weak_ptr<SessionImpl>> registry;  // guarded by registry_mu
};

// A session bound to one connection. Lives on the connection's executor.
class SessionImpl final : public Session,
                          public net::ConnectionHandler,
                          public std::enable_shared_from_this<SessionImpl> {
 public:
  // Most in-flight requests (dispatched, not answered) per session.
  static constexpr uint32_t kMaxInflight = 64;

  SessionImpl(std::shared_ptr<Gateway::Shared> shared, std::shared_ptr<net::Connection> conn);
  ~SessionImpl() override;

  // Registers the session and sends sys.hello. REQUIRES: executor().
  void start();

  // Session
  uint64_t id() const override { return id_; }
  Executor executor() const override { return executor_; }
  net::Transport transport() const override { return transport_; }
  bool tls() const override { return tls_; }
  const std::string& remote_ip() const override { return remote_ip_; }
  void push(const PushOp& op, const nlohmann::json& d) override;
  void close(ErrorCode code, std::string_view msg) override;
  bool closing() const override { return closing_; }
  bool authenticated() const override { return authenticated_; }
  void set_authenticated(bool on) override { authenticated_ = on; }

  // net::ConnectionHandler
  void on_message(std::string_view body, net::Encoding encoding) override;
  void on_bad_frame(const Status& status, bool fatal) override;
  void on_idle() override;
  void on_closed(std::string_view why) override;

  // Delivers a response built by Request. Any thread.
  void deliver(net::OutFrame&& frame, const Route* route, ErrorCode code,
               std::chrono::steady_clock::time_point start);

 protected:
  std::shared_ptr<Session> self() override { return shared_from_this(); }

 private:
  void deliver_here(net::OutFrame&& frame, const Route* route, ErrorCode code,
                    std::chrono::steady_clock::time_point start);
  // Immediate error answer (no handler involved).
  void reply_error(std::optional<uint64_t> rid, net::Encoding enc, ErrorCode code,
                   std::string_view msg, const nlohmann::json* extra = nullptr);
  void bad_message(std::optional<uint64_t> rid, net::Encoding enc, const Status& st);

  std::shared_ptr<Gateway::Shared> shared_;
  const uint64_t id_;
  const Executor executor_;
  const net::Transport transport_;
  const bool tls_;
  const std::string remote_ip_;

  // All below: only on executor_.
  std::shared_ptr<net::Connection> conn_;  // null once closed
  uint64_t push_seq_ = 0;
  net::Encoding push_encoding_ = net::Encoding::kJson;
  TokenBucket bucket_;
  StrikeCounter rate_strikes_;
  StrikeCounter bad_strikes_;
  uint32_t inflight_ = 0;
  ErrorCode close_code_ = ErrorCode::kOk;
  bool closing_ = false;
  bool authenticated_ = false;
  net::Request scratch_;  // decode target, reused
};

}  // namespace shardd::gateway
