#pragma once

#include <chrono>
#include <cstdint>

namespace shardd {

// Time as services see it, so their rules (cooldowns, throttles, expiry) can
// be tested with a clock the test moves. The server passes the system clock;
// tests pass a FakeClock (tests/support).
//
// Thread-safety: implementations must be safe to call from any thread.
class Clock {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Wall time, Unix milliseconds (what is stored and sent to clients).
  virtual int64_t now_ms() const = 0;
  // Monotonic time (windows, intervals).
  virtual Steady steady() const = 0;
};

// The real clocks (std::chrono::system_clock / steady_clock). Stateless.
class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  Steady steady() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace shardd
