#pragma once

// Small helpers shared by the benchmark programs: URL parsing, descriptor
// limit, /proc readers for another process, a latency histogram.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace shardd::bench {

// ws://host:port/path (no TLS; the benchmarks talk to 127.0.0.1).
struct WsUrl {
  std::string host;
  uint16_t port = 0;
  std::string path;  // starts with '/'
};

// Parses `url`; nullopt (and `error` set) if it is not ws://host:port[/path].
std::optional<WsUrl> parse_ws_url(std::string_view url, std::string* error);

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit. Returns
// the soft limit in effect afterwards.
uint64_t raise_nofile_limit();

// utime + stime of process `pid` in seconds (from /proc/PID/stat), or nullopt
// if it cannot be read. Resolution: one clock tick (usually 10 ms).
std::optional<double> process_cpu_seconds(pid_t pid);

// VmRSS of process `pid` in KiB (from /proc/PID/status), or nullopt.
std::optional<uint64_t> process_rss_kib(pid_t pid);

// CPU seconds (user + system) used by this process so far.
double self_cpu_seconds();

// CPU seconds all CPUs of the machine spent busy (not idle or iowait) since
// boot, from /proc/stat. The difference over a window minus the CPU time of the
// processes under test is what other processes took (a disturbed measurement).
std::optional<double> machine_busy_cpu_seconds();

// Histogram of non-negative integer values (microseconds) with bounded
// relative error: exact below 256, then 128 sub-buckets per power of two
// (< 0.8 % error). Fixed size, no allocation after construction.
class LatencyHistogram {
 public:
  void record(uint64_t v) {
    ++counts_[index_of(v)];
    ++total_;
    if (v > max_) max_ = v;
  }
  void merge(const LatencyHistogram& o);
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  // Value at quantile q (0..1): the midpoint of the bucket holding it; 0 if empty.
  uint64_t quantile(double q) const;

 private:
  static constexpr int kSubBits = 7;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;
  static size_t index_of(uint64_t v) {
    if (v < (uint64_t{2} << kSubBits)) return static_cast<size_t>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    return (static_cast<size_t>(shift) << kSubBits) + static_cast<size_t>(v >> shift);
  }
  static uint64_t value_of(size_t idx);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace shardd::bench
