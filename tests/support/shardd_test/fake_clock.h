#pragma once

#include <atomic>
#include <chrono>

#include "shardd/core/clock.h"

namespace shardd::testing {

// A Clock the test moves: starts at `start_ms` (wall) and an arbitrary
// steady point; advance() moves both. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1767225600000)  // 2026-01-01T00:00:00Z
      : now_ms_(start_ms) {}
  int64_t now_ms() const override { return now_ms_.load(); }
  Steady steady() const override { return Steady(std::chrono::milliseconds(steady_ms_.load())); }
  void advance(std::chrono::milliseconds d) {
    now_ms_ += d.count();
    steady_ms_ += d.count();
  }

 private:
  std::atomic<int64_t> now_ms_;
  std::atomic<int64_t> steady_ms_{1000000};
};

}  // namespace shardd::testing
