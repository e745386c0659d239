#include "shardd/core/metrics.h"

#include <charconv>

#include <algorithm>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace shardd::metrics {
namespace {

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  out += '}';
  return out;
}

// Shortest text that reads back as the same double: 5e-05, not
// 5.0000000000000002e-05.
std::string fmt_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Joins an extra label (le="...") to an already rendered label set.
std::string with_le(const std::string& labels, const std::string& le) {
  if (labels.empty()) return "{le=\"" + le + "\"}";
  return labels.substr(0, labels.size() - 1) + ",le=\"" + le + "\"}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                 bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
          0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1,
          2.5,     5,      10};
}

Registry::Child& Registry::child(std::string_view name, std::string_view help, Type type,
                                 const Labels& labels) {
  std::string rendered = render_labels(labels);
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
  }
  for (auto& c : it->second.children) {
    if (c->labels == rendered) return *c;
  }
  auto c = std::make_unique<Child>();
  c->labels = std::move(rendered);
  it->second.children.push_back(std::move(c));
  return *it->second.children.back();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  Child& c = child(name, help, Type::kCounter, labels);
  std::lock_guard lock(mu_);
  if (!c.counter) c.counter = std::make_unique<Counter>();
  return *c.counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  Child& c = child(name, help, Type::kGauge, labels);
  std::lock_guard lock(mu_);
  if (!c.gauge) c.gauge = std::make_unique<Gauge>();
  return *c.gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> bounds, const Labels& labels) {
  Child& c = child(name, help, Type::kHistogram, labels);
  std::lock_guard lock(mu_);
  if (!c.histogram) c.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *c.histogram;
}

void Registry::add_collector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  std::string out;
  out.reserve(16 * 1024);
  std::lock_guard lock(mu_);
  for (const auto& [name, fam] : families_) {
    out += "# HELP " + name + " " + fam.help + "\n";
    out += "# TYPE " + name + " ";
    out += fam.type == Type::kCounter ? "counter" : fam.type == Type::kGauge ? "gauge" : "histogram";
    out += '\n';
    for (const auto& c : fam.children) {
      if (c->counter) {
        out += name + c->labels + " " + std::to_string(c->counter->value()) + "\n";
      } else if (c->gauge) {
        out += name + c->labels + " " + std::to_string(c->gauge->value()) + "\n";
      } else if (c->histogram) {
        const Histogram& h = *c->histogram;
        uint64_t cum = 0;
        for (size_t i = 0; i < h.bounds().size(); ++i) {
          cum += h.bucket(i);
          out += name + "_bucket" + with_le(c->labels, fmt_double(h.bounds()[i])) + " " +
                 std::to_string(cum) + "\n";
        }
        cum += h.bucket(h.bounds().size());
        out += name + "_bucket" + with_le(c->labels, "+Inf") + " " + std::to_string(cum) + "\n";
        out += name + "_sum" + c->labels + " " + fmt_double(h.sum()) + "\n";
        out += name + "_count" + c->labels + " " + std::to_string(h.count()) + "\n";
      }
    }
  }
  for (const auto& col : collectors_) col(out);
  return out;
}

ProcessStats read_process_stats() {
  ProcessStats s;
  static const long ticks = sysconf(_SC_CLK_TCK);
  static const long page = sysconf(_SC_PAGESIZE);
  {
    std::ifstream in("/proc/self/stat");
    std::string line;
    std::getline(in, line);
    // Fields after the command name (which may contain spaces) start after ')'.
    auto rp = line.rfind(')');
    if (rp != std::string::npos) {
      std::istringstream is(line.substr(rp + 2));
      std::vector<std::string> f;
      std::string tok;
      while (is >> tok) f.push_back(tok);
      // f[0] is field 3 (state). utime=14, stime=15, starttime=22, vsize=23, rss=24.
      if (f.size() > 21) {
        s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
        double start_ticks = std::stod(f[19]);
        s.virtual_bytes = std::stoull(f[20]);
        s.rss_bytes = std::stoull(f[21]) * static_cast<uint64_t>(page);
        double boot = 0;
        std::ifstream st("/proc/stat");
        std::string key;
        while (st >> key) {
          if (key == "btime") {
            st >> boot;
            break;
          }
        }
        s.start_time_seconds = boot + start_ticks / static_cast<double>(ticks);
      }
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++s.open_fds;
    }
    closedir(d);
    if (s.open_fds) --s.open_fds;  // the descriptor opendir itself holds
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) s.max_fds = rl.rlim_cur;
  return s;
}

void add_process_collector(Registry& registry) {
  registry.add_collector([](std::string& out) {
    ProcessStats s = read_process_stats();
    out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n";
    out += "# TYPE process_cpu_seconds_total counter\n";
    out += "process_cpu_seconds_total " + fmt_double(s.cpu_seconds) + "\n";
    out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n";
    out += "# TYPE process_resident_memory_bytes gauge\n";
    out += "process_resident_memory_bytes " + std::to_string(s.rss_bytes) + "\n";
    out += "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n";
    out += "# TYPE process_virtual_memory_bytes gauge\n";
    out += "process_virtual_memory_bytes " + std::to_string(s.virtual_bytes) + "\n";
    out += "# HELP process_open_fds Number of open file descriptors.\n";
    out += "# TYPE process_open_fds gauge\n";
    out += "process_open_fds " + std::to_string(s.open_fds) + "\n";
    out += "# HELP process_max_fds Maximum number of open file descriptors.\n";
    out += "# TYPE process_max_fds gauge\n";
    out += "process_max_fds " + std::to_string(s.max_fds) + "\n";
    out += "# HELP process_start_time_seconds Start time of the process since unix epoch.\n";
    out += "# TYPE process_start_time_seconds gauge\n";
    out += "process_start_time_seconds " + fmt_double(s.start_time_seconds) + "\n";
  });
}

}  // namespace shardd::metrics
