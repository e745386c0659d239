#include "shardd/core/io_pool.h"

#include <pthread.h>

#include "shardd/core/barrier.h"

namespace shardd {

void set_thread_name(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

IoPool::IoPool(size_t threads, std::string name, metrics::Registry* metrics)
    : name_(std::move(name)), metrics_(metrics) {
  for (size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<Context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoPool::~IoPool() {
  stop();
  join();
}

void IoPool::start() {
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      set_thread_name(name_ + "-" + std::to_string(i));
      barrier::run_loop(*contexts_[i], name_, metrics_);
    });
  }
}

void IoPool::release_work() {
  for (auto& g : guards_) g.reset();
}

void IoPool::stop() {
  for (auto& c : contexts_) c->stop();
}

void IoPool::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void IoPool::discard_pending() {
  for (auto& c : contexts_) c->discard_pending();
}

boost::asio::io_context& IoPool::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

}  // namespace shardd
