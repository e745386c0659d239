#pragma once

// The exception barrier. shardd reports expected failures as Status values;
// an exception that escapes a handler is a bug. Wherever control passes from
// the framework into code that might throw (op handlers, storage work and its
// completions, admin routes, and as a last line every worker thread's run
// loop), the barrier catches it, logs it with what it was doing, counts it in
// `shardd_internal_errors_total{op}` and lets the server go on serving. The
// request that was being handled is answered INTERNAL (HTTP 500 on admin).
//
// Thread-safety: everything here is safe from any thread.

#include <boost/asio/io_context.hpp>
#include <string>
#include <string_view>

#include "shardd/core/metrics.h"

namespace shardd::barrier {

// Logs "internal error in <op> (<context>): <what>" and counts it.
// `metrics` may be null (only logged).
void report(metrics::Registry* metrics, std::string_view op, std::string_view context,
            std::string_view what);

// what() of the exception being handled. REQUIRES: inside a catch block.
std::string current_what();

// The op whose handler, storage work or completion runs on this thread now
// ("" if none). Set by OpScope; used to label what the barrier reports.
std::string_view current_op();

// Sets current_op() for its lifetime (nests). `op` must outlive the scope.
// When the scope ends because an exception passes through it, the op stays
// set, so that the barrier that catches it further out (a thread's run loop)
// can still name it; the run loop clears it.
class OpScope {
 public:
  explicit OpScope(std::string_view op);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  std::string_view saved_;
  int uncaught_;
};

// Runs fn(); an exception escaping it is reported and swallowed. Returns
// false if fn threw.
template <class Fn>
bool run(metrics::Registry* metrics, std::string_view op, std::string_view context,
         Fn&& fn) noexcept {
  try {
    fn();
    return true;
  } catch (...) {
    report(metrics, op, context, current_what());
    return false;
  }
}

// Runs `ctx` until it stops or runs out of work; a handler that throws is
// reported (op: current_op() or `pool`) and the loop goes on with the next
// handler, as Asio allows (run() may be called again after an exception).
void run_loop(boost::asio::io_context& ctx, std::string_view pool, metrics::Registry* metrics);

}  // namespace shardd::barrier
