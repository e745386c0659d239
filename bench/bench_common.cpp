#include "bench_common.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace shardd::bench {

std::optional<WsUrl> parse_ws_url(std::string_view url, std::string* error) {
  constexpr std::string_view kScheme = "ws://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    *error = "only ws:// URLs are supported";
    return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  WsUrl out;
  out.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    *error = "URL needs host:port";
    return std::nullopt;
  }
  out.host = std::string(authority.substr(0, colon));
  std::string_view port = authority.substr(colon + 1);
  unsigned value = 0;
  auto r = std::from_chars(port.data(), port.data() + port.size(), value);
  if (r.ec != std::errc() || r.ptr != port.data() + port.size() || value == 0 || value > 65535) {
    *error = "bad port in URL";
    return std::nullopt;
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

uint64_t raise_nofile_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

std::optional<double> process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may contain spaces and ')': skip past the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  // Fields after the name start with field 3 (state); utime/stime are 14 and 15.
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) ticks = 100;
  return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

std::optional<uint64_t> process_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream s(line.substr(6));
      uint64_t kib = 0;
      if (s >> kib) return kib;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::optional<double> machine_busy_cpu_seconds() {
  std::ifstream in("/proc/stat");
  std::string label;
  // cpu  user nice system idle iowait irq softirq steal ...
  unsigned long long v[8] = {};
  if (!(in >> label) || label != "cpu") return std::nullopt;
  for (auto& x : v) {
    if (!(in >> x)) return std::nullopt;
  }
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) ticks = 100;
  return static_cast<double>(busy) / static_cast<double>(ticks);
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
  if (o.max_ > max_) max_ = o.max_;
}

uint64_t LatencyHistogram::value_of(size_t idx) {
  constexpr size_t kSub = size_t{1} << kSubBits;
  if (idx < 2 * kSub) return idx;
  size_t shift = idx / kSub - 1;
  uint64_t mantissa = idx % kSub + kSub;
  uint64_t low = mantissa << shift;
  return low + ((uint64_t{1} << shift) >> 1);
}

uint64_t LatencyHistogram::quantile(double q) const {
  if (total_ == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t v = value_of(i);
      return v > max_ ? max_ : v;
    }
  }
  return max_;
}

}  // namespace shardd::bench
