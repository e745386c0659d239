#pragma once

// Private to the store module: the two cache implementations.

#include <memory>

#include "shardd/core/config.h"
#include "shardd/core/metrics.h"
#include "shardd/store/cache.h"

namespace shardd::store {

// Bounded in-process LRU with per-entry expiry, 16 shards each under its own mutex.
std::unique_ptr<Cache> make_memory_cache(size_t max_entries);

// Redis through hiredis: a small pool of blocking connections with connect and
// command timeouts, AUTH/SELECT, and a circuit breaker: after a failure the
// cache reports unavailable and skips Redis until its backoff (doubling up to
// redis.retry_max_ms) has passed, then tries to reconnect.
std::unique_ptr<Cache> make_redis_cache(const RedisConfig& config, size_t pool_size,
                                        metrics::Registry& metrics);

}  // namespace shardd::store
