// shardd_bench_stall: how often this machine takes the CPU away from a
// running thread, and for how long.
//
// Runs --threads threads (default: one per CPU) that do nothing but read the
// monotonic clock for --duration seconds. Any gap between two consecutive
// reads is time the thread was not running although it wanted to: preempted
// by another thread, an interrupt, or (on a virtual machine) the host running
// something else on the vCPU. With every CPU busy this is the floor under any
// server's tail latency on this machine: a request that arrives while its
// server thread is stalled waits at least that long, and so does every request
// queued behind it.
//
// scripts/bench.sh runs it before the latency case, so the p99 figures can be
// read against the machine they were measured on.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "external_includes.h"

namespace shardd::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  uint32_t threads = 0;  // 0: one per CPU
  double duration_s = 5;
  bool json = false;
};

// Gap thresholds, microseconds; counts are of gaps at or above each.
constexpr std::array<int64_t, 5> kThresholdsUs = {100, 500, 1000, 2000, 5000};

struct Probe {
  std::array<uint64_t, kThresholdsUs.size()> at_least{};
  int64_t max_gap_us = 0;
  int64_t stalled_us = 0;  // sum of the gaps of at least the first threshold
};

Probe spin(double duration_s) {
  Probe p;
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(duration_s));
  auto prev = start;
  for (;;) {
    const auto now = SteadyClock::now();
    const int64_t gap = std::chrono::duration_cast<std::chrono::microseconds>(now - prev).count();
    prev = now;
    if (gap >= kThresholdsUs[0]) {
      for (size_t i = 0; i < kThresholdsUs.size() && gap >= kThresholdsUs[i]; ++i) {
        ++p.at_least[i];
      }
      p.stalled_us += gap;
      p.max_gap_us = std::max(p.max_gap_us, gap);
    }
    if (now >= end) break;
  }
  return p;
}

int run(const Options& opt) {
  const uint32_t n = opt.threads ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<Probe> probes(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    threads.emplace_back([&probes, i, &opt] { probes[i] = spin(opt.duration_s); });
  }
  for (auto& t : threads) t.join();

  Probe total;
  for (const Probe& p : probes) {
    for (size_t i = 0; i < kThresholdsUs.size(); ++i) total.at_least[i] += p.at_least[i];
    total.stalled_us += p.stalled_us;
    total.max_gap_us = std::max(total.max_gap_us, p.max_gap_us);
  }
  // Per thread and per 10 s, the unit the latency runs are reported in.
  const double scale = 10.0 / (opt.duration_s * n);
  const double stalled_share = static_cast<double>(total.stalled_us) / 1e6 / (opt.duration_s * n);

  if (opt.json) {
    nlohmann::json j = {{"threads", n},
                        {"duration_s", opt.duration_s},
                        {"max_gap_us", total.max_gap_us},
                        {"stalled_share", stalled_share}};
    for (size_t i = 0; i < kThresholdsUs.size(); ++i) {
      j["gaps_ge_" + std::to_string(kThresholdsUs[i]) + "us_per_10s"] =
          static_cast<double>(total.at_least[i]) * scale;
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("threads             %u spinning for %.1f s\n", n, opt.duration_s);
  std::printf("gaps per thread per 10 s:\n");
  for (size_t i = 0; i < kThresholdsUs.size(); ++i) {
    std::printf("  >= %5lld us        %.1f\n", static_cast<long long>(kThresholdsUs[i]),
                static_cast<double>(total.at_least[i]) * scale);
  }
  std::printf("longest gap         %lld us\n", static_cast<long long>(total.max_gap_us));
  std::printf("time stalled        %.2f %%\n", stalled_share * 100);
  return 0;
}

}  // namespace
}  // namespace shardd::bench

int main(int argc, char** argv) {
  shardd::bench::Options opt;
  CLI::App app{"Measures how often and how long running threads lose their CPU"};
  app.add_option("--threads", opt.threads, "Spinning threads (0: one per CPU)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1024u));
  app.add_option("--duration", opt.duration_s, "Seconds to spin")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("--json", opt.json, "Print one JSON line of results");
  CLI11_PARSE(app, argc, argv);
  return shardd::bench::run(opt);
}
