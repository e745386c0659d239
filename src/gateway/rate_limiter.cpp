#include "shardd/gateway/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace shardd::gateway {

bool TokenBucket::try_take(double rate, double burst, Clock::time_point now,
                           uint32_t* retry_after_ms) {
  if (tokens_ < 0) {
    tokens_ = burst;
    last_ = now;
  } else {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) {
      tokens_ = std::min(burst, tokens_ + elapsed * rate);
      last_ = now;
    }
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  *retry_after_ms = static_cast<uint32_t>(std::ceil((1.0 - tokens_) / rate * 1000.0));
  return false;
}

bool StrikeCounter::add(Clock::time_point now, Clock::duration window, uint32_t threshold) {
  if (count_ == 0 || now - start_ >= window) {
    start_ = now;
    count_ = 0;
  }
  ++count_;
  return count_ >= threshold;
}

}  // namespace shardd::gateway
