#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "shardd/core/error_code.h"
#include "shardd/core/metrics.h"
#include "shardd/net/connection.h"

namespace shardd::gateway {

using net::OutputClass;

// How a push type is delivered (Gateway::push_op).
struct PushOptions {
  // Numbered (seq 1, 2, 3 ...) and kept in the replay buffer for sys.resume.
  // false: sent with seq 0, never replayed, and not sent at all while the
  // session is detached or closing: connection notices (sys.hello,
  // sys.close, sys.kicked, sys.shutdown) and state refreshes (positions,
  // listings) that the client re-fetches after a resync anyway.
  bool replayable = true;
  // The connection's output budget the push is queued under. kState pushes
  // may be dropped when the client reads too slowly, so they must not be
  // replayable (see Gateway::push_op).
  OutputClass output = OutputClass::kNormal;
};

// A registered server push type ("sys.hello", "chat.msg", ...). Created once by
// Gateway::push_op(); the address is stable for the Gateway's life.
struct PushOp {
  std::string op;
  metrics::Counter* sent = nullptr;
  bool replayable = true;                     // PushOptions::replayable
  OutputClass output = OutputClass::kNormal;  // PushOptions::output
};

// A push body encoded once for many recipients (both encodings).
struct SharedBody {
  explicit SharedBody(const nlohmann::json& d);
  std::shared_ptr<const std::string> json;
  std::shared_ptr<const std::string> msgpack;
};

// A snapshot of one session, as GET /admin/sessions shows it.
struct SessionInfo {
  uint64_t id = 0;
  int64_t account_id = 0;  // 0: not logged in
  std::string username;
  std::string transport;  // ws, wss, tcp, tls (of the current or last connection)
  std::string remote_ip;
  bool in_grace = false;     // the connection dropped; waiting for sys.resume
  int64_t started_ms = 0;    // Unix ms when the session was created
};

// Which sessions Gateway::sessions() returns; empty fields match anything.
struct SessionFilter {
  int64_t account_id = 0;
  std::string username;  // compared ignoring ASCII case
  std::string remote_ip;
};

// Why a (logged-in) session ended, as told to SessionListeners.
enum class EndReason : uint8_t {
  kClosed,        // connection closed and the session was not logged in
  kLogout,        // auth.logout
  kKicked,        // logged in elsewhere
  kBanned,        // banned while online
  kGraceExpired,  // dropped and not resumed within session.resume_grace_ms
  kShutdown,      // server drain
};
std::string_view end_reason_name(EndReason r);

// A player's session. It outlives its connection: when a logged-in player's
// connection drops, the session waits `session.resume_grace_ms` for
// `sys.resume` on a new connection (any transport), keeping its place in the
// world and buffering pushes for replay.
//
// The session lives on one io executor for its whole life; its state is only
// touched there. Thread-safety: id(), executor() and the post_* methods may
// be called from any thread; every other method REQUIRES executor().
class Session {
 public:
  using Executor = boost::asio::io_context::executor_type;
  virtual ~Session() = default;

  virtual uint64_t id() const = 0;
  virtual Executor executor() const = 0;
  // Of the current connection (the last one while detached).
  virtual net::Transport transport() const = 0;
  virtual bool tls() const = 0;
  virtual const std::string& remote_ip() const = 0;

  // Sends a push {"op":op,"seq":N,"d":d} with this session's next seq (0 for a
  // push that is not replayable), in the encoding the client last used. While
  // detached (grace), a replayable push is only kept for replay and any
  // other is dropped. Dropped once the session is closing or ended.
  virtual void push(const PushOp& op, const nlohmann::json& d) = 0;
  // Same with a body encoded once for a broadcast (no per-recipient encoding).
  virtual void push(const PushOp& op, const std::shared_ptr<const SharedBody>& body) = 0;
  // Sends `sys.close {code,msg}` and closes the connection gracefully. A
  // logged-in session then waits for a resume (grace) unless it was ended.
  virtual void close(ErrorCode code, std::string_view msg) = 0;
  virtual bool closing() const = 0;

  // Logged in: the account the session acts for.
  virtual bool authenticated() const = 0;
  virtual int64_t account_id() const = 0;  // 0 when not logged in
  virtual const std::string& username() const = 0;
  // Marks the session logged in and returns a fresh resume token (the raw
  // token; only its hash is kept). Empty if the session already ended.
  virtual std::string login(int64_t account_id, const std::string& username) = 0;
  // Ends the logged-in part of the session: listeners are told (`reason`),
  // the resume token dies, the replay buffer is dropped. kLogout keeps the
  // connection open (unauthenticated); kKicked/kBanned push
  // `sys.kicked {reason}` and close the connection (4004).
  virtual void end(EndReason reason, std::string_view detail) = 0;

  // Thread-safe forms: post to executor() and run there.
  void post_push(const PushOp& op, nlohmann::json d);
  void post_close(ErrorCode code, std::string msg);
  void post_end(EndReason reason, std::string detail);

 protected:
  virtual std::shared_ptr<Session> self() = 0;
};

// Told when a logged-in session ends (called on the session's executor; post
// to your own strand). Register with Gateway::add_listener before serving.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  virtual void on_session_ended(const std::shared_ptr<Session>& session, EndReason reason) = 0;
};

}  // namespace shardd::gateway
