// shardd_bench_idle: memory held by idle sessions.
//
// Opens --sessions WebSocket sessions (gradually), keeps each one alive with
// a sys.ping every --ping-ms (each session starts at a random offset so the
// pings are spread out), waits --settle-ms after the last session opened (so
// every session has sent and been answered at least once), then reads the
// server's VmRSS and reports it against the RSS before the sessions were
// opened (--rss-before-kib, or read at start), i.e. bytes per idle session.

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "external_includes.h"
#include "ws_client.h"

namespace shardd::bench {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string url = "ws://127.0.0.1:7100/ws";
  uint32_t sessions = 10000;
  uint32_t ping_ms = 4000;
  uint32_t settle_ms = 0;  // 0: ping_ms + 2000
  int server_pid = 0;
  uint64_t rss_before_kib = 0;  // 0: read at start
  double connect_rate = 2000;
  uint32_t connect_pending = 64;
  uint32_t threads = 1;
  bool json = false;
};

struct Shared {
  tcp::endpoint endpoint;
  WsClient::Upgrade upgrade;
  uint32_t ping_ms = 0;
  std::atomic<uint32_t> opened{0};
  std::atomic<uint32_t> connect_failed{0};
  std::atomic<uint32_t> disconnects{0};
  std::atomic<uint64_t> pings_sent{0};
  std::atomic<uint64_t> replies{0};
  std::mutex reasons_mu;
  std::vector<std::string> reasons;  // guarded by reasons_mu

  void note_reason(std::string_view why) {
    std::lock_guard lock(reasons_mu);
    if (reasons.size() < 5) reasons.emplace_back(why);
  }
};

class IdleConn final : public WsClient {
 public:
  IdleConn(Shared& shared, asio::io_context& ctx, uint32_t first_ping_ms)
      : WsClient(ctx, 64 * 1024), shared_(shared), timer_(ctx), first_ping_ms_(first_ping_ms) {}

  void stop() {
    timer_.cancel();
    close_now();
  }

 protected:
  void on_open() override {
    was_open_ = true;
    shared_.opened.fetch_add(1, std::memory_order_relaxed);
    arm(std::chrono::milliseconds(first_ping_ms_));
  }

  void on_message(std::string_view payload) override {
    if (payload.find(R"("rid":)") != std::string_view::npos) {
      shared_.replies.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void on_closed(std::string_view why) override {
    timer_.cancel();
    if (was_open_) {
      shared_.disconnects.fetch_add(1, std::memory_order_relaxed);
    } else {
      shared_.connect_failed.fetch_add(1, std::memory_order_relaxed);
    }
    shared_.note_reason(why);
  }

 private:
  void arm(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !is_open()) return;
      ping();
      arm(std::chrono::milliseconds(shared_.ping_ms));
    });
  }

  void ping() {
    char buf[96];
    constexpr std::string_view kHead = R"({"op":"sys.ping","rid":)";
    constexpr std::string_view kTail = R"(,"d":{}})";
    char* p = std::copy(kHead.begin(), kHead.end(), buf);
    p = std::to_chars(p, buf + sizeof buf, next_rid_++).ptr;
    p = std::copy(kTail.begin(), kTail.end(), p);
    queue_text(std::string_view(buf, static_cast<size_t>(p - buf)));
    flush();
    shared_.pings_sent.fetch_add(1, std::memory_order_relaxed);
  }

  Shared& shared_;
  asio::steady_timer timer_;
  const uint32_t first_ping_ms_;
  uint64_t next_rid_ = 1;
  bool was_open_ = false;
};

class Worker {
 public:
  explicit Worker(Shared& shared) : shared_(shared), guard_(ctx_.get_executor()) {}

  void run() {
    thread_ = std::thread([this] { ctx_.run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  void add_connection(uint32_t first_ping_ms) {
    asio::post(ctx_, [this, first_ping_ms] {
      conns_.push_back(std::make_unique<IdleConn>(shared_, ctx_, first_ping_ms));
      conns_.back()->start(shared_.endpoint, shared_.upgrade);
    });
  }
  void stop() {
    asio::post(ctx_, [this] {
      for (auto& c : conns_) c->stop();
      guard_.reset();
    });
  }

 private:
  Shared& shared_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::unique_ptr<IdleConn>> conns_;  // destroyed before ctx_
  std::thread thread_;
};

int run(const Options& opt) {
  std::string error;
  auto url = parse_ws_url(opt.url, &error);
  if (!url) {
    std::cerr << "idle: " << error << "\n";
    return 2;
  }
  uint64_t nofile = raise_nofile_limit();
  if (nofile < opt.sessions + 64) {
    std::cerr << "idle: RLIMIT_NOFILE is " << nofile << ", too low for " << opt.sessions
              << " sessions\n";
    return 2;
  }
  uint64_t rss_before = opt.rss_before_kib;
  if (rss_before == 0) {
    auto r = process_rss_kib(opt.server_pid);
    if (!r) {
      std::cerr << "idle: cannot read VmRSS of pid " << opt.server_pid << "\n";
      return 2;
    }
    rss_before = *r;
  }

  Shared shared;
  shared.ping_ms = opt.ping_ms;
  {
    std::string resolve_error;
    auto endpoint = WsClient::resolve(url->host, url->port, &resolve_error);
    if (!endpoint) {
      std::cerr << "idle: " << resolve_error << "\n";
      return 2;
    }
    shared.endpoint = *endpoint;
  }
  shared.upgrade = WsClient::make_upgrade(url->host, url->port, url->path);

  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < opt.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(shared));
    workers.back()->run();
  }

  std::minstd_rand rng(12345);
  std::uniform_int_distribution<uint32_t> offset(0, opt.ping_ms - 1);
  const auto start = SteadyClock::now();
  auto settled = [&] { return shared.opened.load() + shared.connect_failed.load(); };
  for (uint32_t i = 0; i < opt.sessions; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<SteadyClock::duration>(
                                              std::chrono::duration<double>(i / opt.connect_rate)));
    while (i - settled() >= opt.connect_pending) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    workers[i % workers.size()]->add_connection(offset(rng));
  }
  const auto deadline = SteadyClock::now() + std::chrono::seconds(15);
  while (settled() < opt.sessions && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double connect_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (!opt.json) {
    std::cerr << "idle: " << shared.opened.load() << "/" << opt.sessions << " sessions open in "
              << connect_s << " s; settling " << (opt.settle_ms ? opt.settle_ms : opt.ping_ms + 2000)
              << " ms\n";
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(opt.settle_ms ? opt.settle_ms : opt.ping_ms + 2000));

  auto rss_after = process_rss_kib(opt.server_pid);
  const uint32_t opened = shared.opened.load();
  const uint32_t disconnects = shared.disconnects.load();
  const uint32_t live = opened - disconnects;
  const uint64_t pings = shared.pings_sent.load();
  const uint64_t replies = shared.replies.load();

  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();

  if (!rss_after) {
    std::cerr << "idle: cannot read VmRSS of pid " << opt.server_pid << " (server gone?)\n";
    return 1;
  }
  const double per_session =
      live > 0 ? (static_cast<double>(*rss_after) - static_cast<double>(rss_before)) * 1024.0 /
                     live
               : 0;
  if (opt.json) {
    nlohmann::json j = {{"sessions", opt.sessions},
                        {"opened", opened},
                        {"live", live},
                        {"connect_failed", shared.connect_failed.load()},
                        {"disconnects", disconnects},
                        {"connect_s", connect_s},
                        {"pings_sent", pings},
                        {"replies", replies},
                        {"rss_before_kib", rss_before},
                        {"rss_after_kib", *rss_after},
                        {"bytes_per_session", per_session}};
    if (!shared.reasons.empty()) j["first_failure"] = shared.reasons.front();
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("sessions            %u requested, %u opened, %u live (%u failed, %u dropped)\n",
                opt.sessions, opened, live, shared.connect_failed.load(), disconnects);
    std::printf("pings               %llu sent, %llu answered\n",
                static_cast<unsigned long long>(pings), static_cast<unsigned long long>(replies));
    std::printf("server VmRSS        %llu KiB before, %llu KiB with the sessions\n",
                static_cast<unsigned long long>(rss_before),
                static_cast<unsigned long long>(*rss_after));
    std::printf("per session         %.0f bytes (%.2f KiB)\n", per_session, per_session / 1024);
    for (const auto& r : shared.reasons) std::printf("  failure: %s\n", r.c_str());
  }
  return live == opt.sessions ? 0 : 1;
}

}  // namespace
}  // namespace shardd::bench

int main(int argc, char** argv) {
  shardd::bench::Options opt;
  CLI::App app{"Opens many idle WebSocket sessions and reports the server's RSS per session"};
  app.add_option("--url", opt.url, "ws://host:port/path")->capture_default_str();
  app.add_option("--sessions", opt.sessions, "Sessions to open")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--ping-ms", opt.ping_ms, "sys.ping interval per session")
      ->capture_default_str()
      ->check(CLI::Range(10u, 3600000u));
  app.add_option("--settle-ms", opt.settle_ms,
                 "Wait after the last session opened before reading RSS (0: ping-ms + 2000)")
      ->capture_default_str();
  app.add_option("--server-pid", opt.server_pid, "Server process")->required();
  app.add_option("--rss-before-kib", opt.rss_before_kib,
                 "Server VmRSS with no sessions (0: read it at start)")
      ->capture_default_str();
  app.add_option("--connect-rate", opt.connect_rate, "New sessions per second")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--connect-pending", opt.connect_pending, "Handshakes in progress at most")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  app.add_option("--threads", opt.threads, "Client io threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_flag("--json", opt.json, "Print one JSON line of results");
  CLI11_PARSE(app, argc, argv);
  return shardd::bench::run(opt);
}
