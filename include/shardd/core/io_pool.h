#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shardd/core/metrics.h"

namespace shardd {

// N io_contexts, each run by exactly one thread (so handlers of one context
// never run concurrently). A connection is assigned to one context for its
// whole life. Thread-safe: next() and context(i) may be called from any thread.
class IoPool {
 public:
  // `name` prefixes the thread names ("io-0", "io-1", ...). A handler that
  // throws is reported by the exception barrier (counted in `metrics` if not
  // null) and its thread goes on. REQUIRES: threads >= 1.
  IoPool(size_t threads, std::string name, metrics::Registry* metrics = nullptr);
  ~IoPool();  // stops and joins
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  void start();
  // Lets the contexts run out of work and exit; join() waits for that.
  void release_work();
  // Stops every context immediately (pending handlers are not run).
  void stop();
  void join();
  // Destroys every handler still queued on the contexts, keeping their
  // services alive (see WorkerPool::discard_pending). REQUIRES: joined.
  void discard_pending();

  size_t size() const { return contexts_.size(); }
  boost::asio::io_context& context(size_t i) { return *contexts_[i]; }
  // Round-robin choice for a new connection.
  boost::asio::io_context& next();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  // An io_context whose pending handlers can be dropped before it dies.
  class Context : public boost::asio::io_context {
   public:
    using boost::asio::io_context::io_context;
    void discard_pending() { shutdown(); }
  };
  std::string name_;
  metrics::Registry* metrics_;
  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

// Names the calling thread (visible in top -H, gdb, logs).
void set_thread_name(const std::string& name);

}  // namespace shardd
