#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardd::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic counter. inc() is lock-free and safe from any thread.
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Value that goes up and down. Lock-free, safe from any thread.
class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Cumulative histogram with fixed upper bounds. observe() is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Count of observations <= bounds()[i] (non-cumulative per bucket; last is +Inf).
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 50 us .. 10 s.
std::vector<double> latency_buckets();

// A set of named metric families, rendered in the Prometheus text format.
// Registration (counter()/gauge()/histogram()/add_collector()) takes a lock and
// returns a reference that stays valid for the life of the Registry; hot paths
// register once and keep the reference. Not a global: the app owns one and
// hands it to modules.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the existing child if name+labels were registered before.
  // REQUIRES: a name is always used with the same type.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       const Labels& labels = {});

  // A function called at every render that appends complete exposition lines
  // (with # HELP/# TYPE) for values computed at scrape time.
  void add_collector(std::function<void(std::string& out)> collector);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Child {
    std::string labels;  // rendered: {a="b",c="d"} or ""
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::unique_ptr<Child>> children;
  };
  Child& child(std::string_view name, std::string_view help, Type type, const Labels& labels);

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::map<std::string, Family, std::less<>> families_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// Adds process_* metrics (CPU, RSS, virtual memory, open/max fds, start time).
void add_process_collector(Registry& registry);

// Resource usage of this process, read from /proc.
struct ProcessStats {
  double cpu_seconds = 0;
  uint64_t rss_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
  double start_time_seconds = 0;
};
ProcessStats read_process_stats();

}  // namespace shardd::metrics
