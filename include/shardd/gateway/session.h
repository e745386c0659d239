#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "shardd/core/error_code.h"
#include "shardd/core/metrics.h"
#include "shardd/net/connection.h"

namespace shardd::gateway {

// A registered server push type ("sys.hello", "chat.msg", ...). Created once by
// Gateway::push_op(); the address is stable for the Gateway's life.
struct PushOp {
  std::string op;
  metrics::Counter* sent = nullptr;
};

// What services see of a player's session. The session lives on one io
// executor; its state is only touched there.
//
// Thread-safety: id(), executor(), transport() and the post_* methods may be
// called from any thread; every other method REQUIRES executor().
class Session {
 public:
  using Executor = boost::asio::io_context::executor_type;
  virtual ~Session() = default;

  virtual uint64_t id() const = 0;
  virtual Executor executor() const = 0;
  virtual net::Transport transport() const = 0;
  virtual bool tls() const = 0;
  virtual const std::string& remote_ip() const = 0;

  // Sends a push {"op":op,"seq":N,"d":d} with this session's next seq, in the
  // encoding the client last used. Dropped if the session is closing.
  virtual void push(const PushOp& op, const nlohmann::json& d) = 0;
  // Sends `sys.close {code,msg}` and closes the connection gracefully.
  virtual void close(ErrorCode code, std::string_view msg) = 0;
  virtual bool closing() const = 0;

  virtual bool authenticated() const = 0;
  virtual void set_authenticated(bool on) = 0;

  // Thread-safe forms: post to executor() and run there.
  void post_push(const PushOp& op, nlohmann::json d);
  void post_close(ErrorCode code, std::string msg);

 protected:
  virtual std::shared_ptr<Session> self() = 0;
};

}  // namespace shardd::gateway
