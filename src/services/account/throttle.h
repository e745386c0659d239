#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "shardd/core/clock.h"

namespace shardd::account {

// Counts events per key in fixed one-minute windows (login failures per
// account name and per IP, registrations per IP). Bounded: at most kMaxKeys
// keys; expired windows are swept by prune(). Times come from the caller
// (a Clock), so tests move them.
//
// Thread-safety: none (the account strand owns it).
class Throttle {
 public:
  static constexpr size_t kMaxKeys = 100000;
  using TimePoint = Clock::Steady;

  // Milliseconds until `key` may try again, 0 if it may now.
  int64_t blocked_ms(const std::string& key, uint32_t limit, TimePoint now) const {
    auto it = map_.find(key);
    if (it == map_.end() || now - it->second.start >= kWindow || it->second.count < limit) return 0;
    return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.start + kWindow - now)
               .count() +
           1;
  }
  void add(const std::string& key, TimePoint now) {
    auto it = map_.find(key);
    if (it == map_.end()) {
      if (map_.size() >= kMaxKeys) prune(now);
      if (map_.size() >= kMaxKeys) return;  // full of live windows: stop counting new keys
      map_.emplace(key, Window{now, 1});
      return;
    }
    if (now - it->second.start >= kWindow) it->second = Window{now, 0};
    ++it->second.count;
  }
  void clear(const std::string& key) { map_.erase(key); }
  void prune(TimePoint now) {
    std::erase_if(map_, [now](const auto& kv) { return now - kv.second.start >= kWindow; });
  }
  size_t size() const { return map_.size(); }

 private:
  static constexpr auto kWindow = std::chrono::minutes(1);
  struct Window {
    TimePoint start;
    uint32_t count;
  };
  std::unordered_map<std::string, Window> map_;
};

}  // namespace shardd::account
