#pragma once

#include <chrono>
#include <cstdint>

namespace shardd::gateway {

using Clock = std::chrono::steady_clock;

// Token bucket: `rate` tokens per second, at most `burst` stored; starts full.
// Not thread-safe (one per session, used on the session's executor).
class TokenBucket {
 public:
  // Takes one token if available. Otherwise returns false and sets
  // *retry_after_ms to the wait until the next token.
  bool try_take(double rate, double burst, Clock::time_point now, uint32_t* retry_after_ms);

 private:
  double tokens_ = -1;  // < 0: not started (full on first use)
  Clock::time_point last_{};
};

// Counts events in a fixed window that restarts after `window` has passed since
// its first event. add() returns true when the count reaches `threshold`.
// Not thread-safe.
class StrikeCounter {
 public:
  bool add(Clock::time_point now, Clock::duration window, uint32_t threshold);
  uint32_t count() const { return count_; }

 private:
  Clock::time_point start_{};
  uint32_t count_ = 0;
};

}  // namespace shardd::gateway
