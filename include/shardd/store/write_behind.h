#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shardd/core/metrics.h"
#include "shardd/store/db.h"

namespace shardd::store {

class Store;

// Write-behind for hot, loss-tolerant state (positions): mark() records the
// latest value of a key in memory; a flush writes every dirty key in batched
// transactions. Repeated marks of one key between flushes coalesce into one
// write. Flushes run every store.write_behind_ms, on logout (flush_key) and at
// shutdown. A failed flush puts its keys back (unless marked again since), so
// nothing is dropped while the database is away; the loss window on a crash is
// one flush period.
//
// Thread-safety: all methods are safe from any thread.
class WriteBehind {
 public:
  using Batch = std::vector<std::pair<std::string, std::string>>;
  // Writes one batch inside a transaction (already open); must be idempotent
  // per key (an upsert).
  using FlushFn = std::function<DbStatus(DbConnection&, const Batch&)>;

  WriteBehind(Store& store, std::string name, FlushFn flush, metrics::Registry& metrics);

  void mark(std::string key, std::string value);
  size_t dirty() const;
  const std::string& name() const { return name_; }

  // Flushes every dirty key on the storage pool; `done` runs on a storage
  // thread when finished. A flush already running makes this a no-op (done(Ok)).
  void flush_async(std::function<void(DbStatus)> done);
  // Flushes one key now (logout); `done` runs on a storage thread.
  void flush_key(const std::string& key, std::function<void(DbStatus)> done);
  // Flushes everything and waits. REQUIRES: not on a storage thread.
  DbStatus flush_sync();

 private:
  static constexpr size_t kBatchSize = 500;
  DbStatus write(Batch& batch);  // on a storage thread
  void put_back(Batch& batch);

  Store& store_;
  const std::string name_;
  const FlushFn flush_;
  metrics::Gauge& dirty_gauge_;
  metrics::Counter& written_;
  metrics::Counter& failures_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::unordered_map<std::string, std::string> dirty_;
  bool flushing_ = false;
};

}  // namespace shardd::store
