#include "shardd/net/output_batch.h"

#include <vector>

#include "shardd/net/connection.h"

namespace shardd::net {

namespace {
thread_local OutputBatch* current_batch = nullptr;
// The connections of the open batch. Kept per thread so its capacity is
// reused: a batch allocates nothing once the thread has seen one as large.
thread_local std::vector<std::shared_ptr<Connection>> batched;
}  // namespace

OutputBatch::OutputBatch() : outer_(current_batch == nullptr) {
  if (outer_) current_batch = this;
}

OutputBatch::~OutputBatch() {
  if (!outer_) return;
  // Closed before the writes: a connection that sends while being written
  // (a handler reacting to a failed write) schedules its own flush.
  current_batch = nullptr;
  std::vector<std::shared_ptr<Connection>> conns;
  conns.swap(batched);
  for (const auto& c : conns) c->flush_batched();
  conns.clear();
  if (batched.empty()) batched.swap(conns);  // keep the capacity
}

OutputBatch* OutputBatch::current() {
  return current_batch;
}

void OutputBatch::add(std::shared_ptr<Connection> c) {
  batched.push_back(std::move(c));
}

}  // namespace shardd::net
