#include "shardd/core/worker_pool.h"

#include "shardd/core/barrier.h"
#include "shardd/core/io_pool.h"

namespace shardd {

WorkerPool::WorkerPool(std::string name, size_t threads, metrics::Registry* metrics)
    : boost::asio::io_context(static_cast<int>(threads)),
      name_(std::move(name)),
      size_(threads),
      metrics_(metrics) {
  guard_.emplace(get_executor());
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      set_thread_name(name_ + "-" + std::to_string(i));
      barrier::run_loop(*this, name_, metrics_);
    });
  }
}

WorkerPool::~WorkerPool() {
  stop_now();
  join();
}

void WorkerPool::join() {
  guard_.reset();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void WorkerPool::stop_now() {
  guard_.reset();
  stop();
}

}  // namespace shardd
