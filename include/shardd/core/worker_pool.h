#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shardd/core/metrics.h"

namespace shardd {

// A fixed set of threads sharing one queue of handlers: the logic pool (service
// strands), the storage pool (blocking drivers) and the crypto pool (KDFs).
// Like boost::asio::thread_pool, and usable wherever an io_context is (post,
// make_strand, timers), except that a handler that throws does not end its
// thread: the exception barrier reports it and the thread goes on
// (barrier::run_loop).
//
// Thread-safety: posting is safe from any thread; join() and stop() from the
// owning thread.
class WorkerPool : public boost::asio::io_context {
 public:
  // `name` names the threads ("logic-0", ...). `metrics` may be null.
  // REQUIRES: threads >= 1.
  WorkerPool(std::string name, size_t threads, metrics::Registry* metrics);
  ~WorkerPool();  // stop() and join()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Waits until the queued work has run (work posted meanwhile too), then
  // ends the threads. Idempotent.
  void join();
  // Ends the threads after their current handler; queued work is dropped.
  void stop_now();
  // Destroys every handler still queued, keeping the context's services (and
  // so its timers and sockets) alive. A process with several pools calls it
  // on all of them before destroying any: a dropped handler may own objects
  // whose I/O objects belong to another pool. REQUIRES: threads joined.
  void discard_pending() { shutdown(); }
  size_t size() const { return size_; }

 private:
  const std::string name_;
  const size_t size_;
  metrics::Registry* metrics_;
  std::optional<boost::asio::executor_work_guard<executor_type>> guard_;
  std::vector<std::thread> threads_;
};

}  // namespace shardd
