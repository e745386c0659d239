#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "shardd/core/args.h"
#include "shardd/core/metrics.h"
#include "shardd/core/status.h"
#include "shardd/gateway/session.h"
#include "shardd/net/codec/message.h"

namespace shardd::gateway {

class SessionImpl;
struct Route;

// One client request being handled. Move-only; the handler (or whoever it is
// moved to) must answer exactly once with ok() or fail(); destroying an
// unanswered Request answers INTERNAL ("no reply") so a client never hangs.
//
// Thread-safety: a Request may be moved to and answered from any thread; the
// answer is encoded on the answering thread and sent on the session's executor.
class Request {
 public:
  // `received`: when the message arrived (the start of the handler latency).
  Request(std::shared_ptr<SessionImpl> session, const Route* route, uint64_t rid,
          net::Encoding encoding, nlohmann::json d, std::string remote_ip, int64_t account_id,
          std::chrono::steady_clock::time_point received);
  Request(Request&&) noexcept;
  Request& operator=(Request&&) = delete;
  Request(const Request&) = delete;
  ~Request();

  const std::string& op() const;
  uint64_t rid() const { return rid_; }
  // Snapshots taken on the session's thread when the request arrived, safe to
  // read on any thread: the client's address and its account (0: not logged in).
  const std::string& remote_ip() const { return remote_ip_; }
  int64_t account_id() const { return account_id_; }
  uint64_t session_id() const { return session_id_; }
  nlohmann::json& d() { return d_; }
  // The session that sent the request. REQUIRES: only use its non-thread-safe
  // methods on its executor.
  Session& session();
  std::shared_ptr<Session> session_ptr();

  void ok(const nlohmann::json& d = nlohmann::json::object());
  // `extra` (object or null) adds members to err, e.g. retry_after_ms. An
  // UNAVAILABLE answer always carries retry_after_ms (1000 unless given).
  void fail(ErrorCode code, std::string_view msg, const nlohmann::json* extra = nullptr);
  // With the status' retry_after_ms, if it has one.
  void fail(const Status& status);
  bool answered() const { return session_ == nullptr; }
  // Marks the request answered without sending anything: someone else (the
  // resumed session) sends the response for this rid. Gateway-internal.
  void hand_over();
  net::Encoding encoding() const { return encoding_; }

 private:
  void send(net::OutFrame&& frame, ErrorCode code);

  std::shared_ptr<SessionImpl> session_;  // null once answered
  const Route* route_;
  uint64_t rid_;
  net::Encoding encoding_;
  nlohmann::json d_;
  std::string remote_ip_;
  int64_t account_id_;
  uint64_t session_id_;
  std::chrono::steady_clock::time_point start_;
};

using Handler = std::function<void(Request&&)>;

struct RouteOptions {
  // sys.* and the login ops run without authentication; everything else
  // answers UNAUTHORIZED until the session is authenticated.
  bool requires_auth = true;
  // Where the handler runs. Unset: inline on the session's io thread, for
  // handlers that only touch the session and never block. Set: posted to this
  // executor (the strand that owns the service's state).
  std::optional<boost::asio::any_io_executor> executor;
  // The fields of `d`. Checked before the handler runs (a request that breaks
  // them is answered BAD_REQUEST naming the field), listed by GET /admin/ops.
  args::Schema args;
};

struct Route {
  std::string op;
  RouteOptions options;
  Handler handler;
  metrics::Counter* in = nullptr;
  metrics::Counter* out = nullptr;
  metrics::Histogram* latency = nullptr;
};

// op name -> handler. Routes are added while the server is assembled and are
// immutable afterwards, so find() needs no lock.
class Router {
 public:
  explicit Router(metrics::Registry& metrics);

  // REQUIRES: before the first connection. BAD_REQUEST for an invalid or
  // duplicate op name.
  Status add(std::string op, RouteOptions options, Handler handler);
  const Route* find(std::string_view op) const;
  // Every route, by op name: [{"op","auth","args":[...]}] (GET /admin/ops).
  nlohmann::json describe() const;
  // Metrics bucket for requests whose op is not registered ("_unknown").
  const Route& unknown() const { return unknown_; }
  size_t size() const { return routes_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void bind_metrics(Route& r);

  metrics::Registry& metrics_;
  std::unordered_map<std::string, std::unique_ptr<Route>, Hash, std::equal_to<>> routes_;
  Route unknown_;
};

}  // namespace shardd::gateway
