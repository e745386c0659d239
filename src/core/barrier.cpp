#include "shardd/core/barrier.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "shardd/core/log.h"
#include "shardd/core/utf8.h"

namespace shardd::barrier {

namespace {
thread_local std::string_view tl_op;
// The op of a scope left by an exception, copied: the string it pointed to
// may be destroyed before the barrier further out reads it.
thread_local char tl_unwound[80];
}  // namespace

void report(metrics::Registry* metrics, std::string_view op, std::string_view context,
            std::string_view what) {
  std::string label = op.empty() ? "unknown" : std::string(op);
  log::get("core").error("internal error in {} ({}): {}", label, context, utf8::quote(what, 200));
  if (metrics) {
    metrics
        ->counter("shardd_internal_errors_total",
                  "Exceptions caught by the exception barrier (server bugs), by op.",
                  {{"op", label}})
        .inc();
  }
}

std::string current_what() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

std::string_view current_op() {
  return tl_op;
}

OpScope::OpScope(std::string_view op) : saved_(tl_op), uncaught_(std::uncaught_exceptions()) {
  tl_op = op;
}
OpScope::~OpScope() {
  if (std::uncaught_exceptions() > uncaught_) {
    // Unwinding: leave the op for the barrier further out, in our own copy.
    if (tl_op.data() != tl_unwound) {
      size_t n = std::min(tl_op.size(), sizeof tl_unwound);
      std::memcpy(tl_unwound, tl_op.data(), n);
      tl_op = std::string_view(tl_unwound, n);
    }
    return;
  }
  tl_op = saved_;
}

void run_loop(boost::asio::io_context& ctx, std::string_view pool, metrics::Registry* metrics) {
  for (;;) {
    try {
      ctx.run();
      return;
    } catch (...) {
      std::string_view op = tl_op.empty() ? pool : tl_op;
      tl_op = {};
      report(metrics, op, std::string(pool) + " thread", current_what());
    }
  }
}

}  // namespace shardd::barrier
