// shardd_bench_ws_load: WebSocket request/response load generator.
//
// Opens --connections WebSocket sessions, then keeps --inflight sys.ping
// requests outstanding on each (closed loop), or sends --rate requests per
// second in total, paced evenly (open loop, still capped at --inflight per
// connection). Replies are matched by the "rid" found in the reply text, so the
// same client works against shardd (which answers with a response) and against
// an echo server (which sends the request back). Frames without "rid" (such
// as shardd's sys.hello push) are ignored.
//
// Reports requests/s, round-trip latency quantiles, the server's CPU time
// during the measured window (--server-pid) and messages per server CPU-second.

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
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

enum Phase : int { kConnecting = 0, kWarmup = 1, kMeasure = 2, kStopped = 3 };

struct Options {
  std::string url = "ws://127.0.0.1:7100/ws";
  uint32_t connections = 1000;
  uint32_t inflight = 8;
  double duration_s = 10;
  double warmup_s = 3;
  double rate = 0;
  uint32_t threads = 1;
  int server_pid = 0;
  double connect_rate = 2000;
  uint32_t connect_pending = 64;
  bool json = false;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// State every worker reads; written by the main thread.
struct Shared {
  explicit Shared(const Options& o) : options(o) {}
  const Options& options;
  tcp::endpoint endpoint;
  WsClient::Upgrade upgrade;
  std::atomic<int> phase{kConnecting};
  std::atomic<uint32_t> opened{0};
  std::atomic<uint32_t> connect_failed{0};
  std::atomic<uint32_t> disconnects{0};
  std::mutex reasons_mu;
  std::vector<std::string> reasons;  // first few failure reasons (guarded by reasons_mu)

  void note_reason(std::string_view why) {
    std::lock_guard lock(reasons_mu);
    if (reasons.size() < 5) reasons.emplace_back(why);
  }
};

// Per-worker counters, only touched by the worker thread (read after join).
struct Stats {
  LatencyHistogram latency_us;
  uint64_t sent = 0;
  uint64_t completed_measured = 0;
  uint64_t error_replies = 0;  // replies carrying "ok":false
  uint64_t unmatched = 0;      // replies whose rid was not outstanding
  uint64_t skipped = 0;        // paced sends dropped: every connection at --inflight
};

class Worker;

class LoadConn final : public WsClient {
 public:
  LoadConn(Worker& worker, asio::io_context& ctx);

  uint32_t inflight() const { return inflight_; }
  // Queues one request (the caller flushes).
  void send_request(int64_t now);

 protected:
  void on_open() override;
  void on_message(std::string_view payload) override;
  void on_read_done() override { flush(); }
  void on_closed(std::string_view why) override;

 private:
  static constexpr size_t kRing = 128;  // > max inflight (64)
  struct Slot {
    uint64_t rid = 0;
    int64_t sent_ns = 0;
  };

  Worker& worker_;
  uint64_t next_rid_ = 1;
  uint32_t inflight_ = 0;
  bool was_open_ = false;
  std::array<Slot, kRing> ring_{};
};

class Worker {
 public:
  explicit Worker(Shared& shared)
      : shared_(shared), guard_(ctx_.get_executor()), ticker_(ctx_) {}

  void run() {
    thread_ = std::thread([this] { ctx_.run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // Creates and starts one connection (posted onto this worker's thread).
  void add_connection() {
    asio::post(ctx_, [this] {
      conns_.push_back(std::make_unique<LoadConn>(*this, ctx_));
      conns_.back()->start(shared_.endpoint, shared_.upgrade);
    });
  }

  // Begins the warm-up: closed loop fills each connection's window, open loop
  // starts the pacing timer.
  void start_load(double rate_per_worker) {
    asio::post(ctx_, [this, rate_per_worker] {
      rate_ = rate_per_worker;
      if (rate_ <= 0) {
        int64_t now = now_ns();
        for (auto& c : conns_) {
          if (!c->is_open()) continue;
          for (uint32_t i = 0; i < shared_.options.inflight; ++i) c->send_request(now);
          c->flush();
        }
      } else {
        pace_start_ = SteadyClock::now();
        issued_ = 0;
        tick();
      }
    });
  }

  // Stops sending, drops every connection and lets the thread finish.
  void stop() {
    asio::post(ctx_, [this] {
      ticker_.cancel();
      for (auto& c : conns_) c->close_now();
      guard_.reset();
    });
  }

  bool sending() const {
    int p = shared_.phase.load(std::memory_order_relaxed);
    return p == kWarmup || p == kMeasure;
  }
  bool measuring() const { return shared_.phase.load(std::memory_order_relaxed) == kMeasure; }
  bool closed_loop() const { return rate_ <= 0; }

  Shared& shared() { return shared_; }
  Stats& stats() { return stats_; }

 private:
  static constexpr auto kTick = std::chrono::microseconds(250);

  // Open loop: issues the sends due since the previous tick, one per
  // connection in round-robin order, skipping connections at their cap.
  void tick() {
    if (!sending()) return;
    auto now = SteadyClock::now();
    double elapsed = std::chrono::duration<double>(now - pace_start_).count();
    auto due = static_cast<uint64_t>(elapsed * rate_);
    int64_t stamp = now_ns();
    const uint32_t cap = shared_.options.inflight;
    const size_t n = conns_.size();
    while (issued_ < due && n > 0) {
      size_t tried = 0;
      while (tried < n && (!conns_[rr_]->is_open() || conns_[rr_]->inflight() >= cap)) {
        rr_ = (rr_ + 1) % n;
        ++tried;
      }
      if (tried == n) {  // every connection is full: drop the backlog
        if (measuring()) stats_.skipped += due - issued_;
        issued_ = due;
        break;
      }
      LoadConn& c = *conns_[rr_];
      c.send_request(stamp);
      c.flush();
      rr_ = (rr_ + 1) % n;
      ++issued_;
    }
    ticker_.expires_at(now + kTick);
    ticker_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }

  Shared& shared_;
  asio::io_context ctx_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer ticker_;
  std::vector<std::unique_ptr<LoadConn>> conns_;  // destroyed before ctx_
  Stats stats_;
  double rate_ = 0;
  SteadyClock::time_point pace_start_;
  uint64_t issued_ = 0;
  size_t rr_ = 0;
  std::thread thread_;
};

LoadConn::LoadConn(Worker& worker, asio::io_context& ctx)
    : WsClient(ctx, 64 * 1024), worker_(worker) {}

void LoadConn::send_request(int64_t now) {
  // {"op":"sys.ping","rid":N,"d":{"t":<client ms>}}
  char buf[96];
  constexpr std::string_view kHead = R"({"op":"sys.ping","rid":)";
  constexpr std::string_view kMid = R"(,"d":{"t":)";
  char* p = buf;
  char* end = buf + sizeof buf;
  std::memcpy(p, kHead.data(), kHead.size());
  p += kHead.size();
  const uint64_t rid = next_rid_++;
  p = std::to_chars(p, end - kMid.size(), rid).ptr;  // at most 20 digits: always fits
  std::memcpy(p, kMid.data(), kMid.size());
  p += kMid.size();
  p = std::to_chars(p, end - 2, wall_ms()).ptr;
  *p++ = '}';
  *p++ = '}';
  Slot& s = ring_[rid % kRing];
  s.rid = rid;
  s.sent_ns = now;
  ++inflight_;
  ++worker_.stats().sent;
  queue_text(std::string_view(buf, static_cast<size_t>(p - buf)));
}

void LoadConn::on_open() {
  was_open_ = true;
  worker_.shared().opened.fetch_add(1, std::memory_order_relaxed);
}

void LoadConn::on_message(std::string_view payload) {
  constexpr std::string_view kRid = R"("rid":)";
  size_t at = payload.find(kRid);
  if (at == std::string_view::npos) return;  // a push (sys.hello): not a reply
  const int64_t now = now_ns();
  const char* first = payload.data() + at + kRid.size();
  uint64_t rid = 0;
  auto r = std::from_chars(first, payload.data() + payload.size(), rid);
  Stats& st = worker_.stats();
  const bool error = payload.find(R"("ok":false)") != std::string_view::npos;
  if (error) ++st.error_replies;
  Slot& s = ring_[rid % kRing];
  if (r.ec != std::errc() || rid == 0 || s.rid != rid) {
    ++st.unmatched;
    return;
  }
  s.rid = 0;
  --inflight_;
  if (worker_.measuring()) {
    ++st.completed_measured;
    st.latency_us.record(static_cast<uint64_t>((now - s.sent_ns) / 1000));
  }
  if (worker_.closed_loop() && worker_.sending()) send_request(now);
}

void LoadConn::on_closed(std::string_view why) {
  Shared& sh = worker_.shared();
  if (was_open_) {
    sh.disconnects.fetch_add(1, std::memory_order_relaxed);
  } else {
    sh.connect_failed.fetch_add(1, std::memory_order_relaxed);
  }
  sh.note_reason(why);
}

void sleep_for_s(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

int run(const Options& opt) {
  std::string error;
  auto url = parse_ws_url(opt.url, &error);
  if (!url) {
    std::cerr << "ws_load: " << error << "\n";
    return 2;
  }
  uint64_t nofile = raise_nofile_limit();
  if (nofile < opt.connections + 64) {
    std::cerr << "ws_load: RLIMIT_NOFILE is " << nofile << ", too low for " << opt.connections
              << " connections\n";
    return 2;
  }

  Shared shared(opt);
  {
    std::string resolve_error;
    auto endpoint = WsClient::resolve(url->host, url->port, &resolve_error);
    if (!endpoint) {
      std::cerr << "ws_load: " << resolve_error << "\n";
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

  // Connect gradually: at most connect_pending handshakes at a time and at
  // most connect_rate new connections per second.
  const auto connect_start = SteadyClock::now();
  auto settled = [&] {
    return shared.opened.load() + shared.connect_failed.load();
  };
  for (uint32_t i = 0; i < opt.connections; ++i) {
    auto not_before = connect_start + std::chrono::duration_cast<SteadyClock::duration>(
                                          std::chrono::duration<double>(i / opt.connect_rate));
    std::this_thread::sleep_until(not_before);
    while (i - settled() >= opt.connect_pending) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    workers[i % workers.size()]->add_connection();
  }
  const auto connect_deadline = SteadyClock::now() + std::chrono::seconds(15);
  while (settled() < opt.connections && SteadyClock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double connect_s =
      std::chrono::duration<double>(SteadyClock::now() - connect_start).count();
  const uint32_t opened = shared.opened.load();
  if (!opt.json || opened < opt.connections) {
    std::cerr << "ws_load: " << opened << "/" << opt.connections << " connections open in "
              << connect_s << " s (" << shared.connect_failed.load() << " failed)\n";
  }
  if (opened == 0) {
    for (auto& w : workers) w->stop();
    for (auto& w : workers) w->join();
    std::cerr << "ws_load: no connection could be opened";
    if (!shared.reasons.empty()) std::cerr << ": " << shared.reasons.front();
    std::cerr << "\n";
    return 1;
  }

  shared.phase.store(kWarmup);
  for (auto& w : workers) w->start_load(opt.rate / static_cast<double>(workers.size()));
  sleep_for_s(opt.warmup_s);

  const auto server_cpu0 = opt.server_pid ? process_cpu_seconds(opt.server_pid) : std::nullopt;
  const double client_cpu0 = self_cpu_seconds();
  const auto machine_cpu0 = machine_busy_cpu_seconds();
  const auto t0 = SteadyClock::now();
  shared.phase.store(kMeasure);
  sleep_for_s(opt.duration_s);
  shared.phase.store(kStopped);
  const auto t1 = SteadyClock::now();
  const auto server_cpu1 = opt.server_pid ? process_cpu_seconds(opt.server_pid) : std::nullopt;
  const double client_cpu1 = self_cpu_seconds();
  const auto machine_cpu1 = machine_busy_cpu_seconds();
  const uint32_t disconnects = shared.disconnects.load();

  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();

  Stats total;
  for (auto& w : workers) {
    const Stats& s = w->stats();
    total.latency_us.merge(s.latency_us);
    total.sent += s.sent;
    total.completed_measured += s.completed_measured;
    total.error_replies += s.error_replies;
    total.unmatched += s.unmatched;
    total.skipped += s.skipped;
  }
  const double window = std::chrono::duration<double>(t1 - t0).count();
  const double rps = static_cast<double>(total.completed_measured) / window;
  const bool have_cpu = server_cpu0 && server_cpu1;
  const double server_cpu = have_cpu ? *server_cpu1 - *server_cpu0 : 0;
  const double per_cpu =
      server_cpu > 0 ? static_cast<double>(total.completed_measured) / server_cpu : 0;
  // CPU time taken by processes other than this client and the server.
  const bool have_other = have_cpu && machine_cpu0 && machine_cpu1;
  double other_cpu = have_other ? (*machine_cpu1 - *machine_cpu0) - server_cpu -
                                      (client_cpu1 - client_cpu0)
                                : 0;
  if (other_cpu < 0) other_cpu = 0;
  const uint64_t errors = total.error_replies + total.unmatched + disconnects +
                          shared.connect_failed.load();

  if (opt.json) {
    nlohmann::json j = {
        {"url", opt.url},
        {"connections", opened},
        {"connect_failed", shared.connect_failed.load()},
        {"inflight", opt.inflight},
        {"threads", opt.threads},
        {"rate_target", opt.rate},
        {"window_s", window},
        {"requests", total.completed_measured},
        {"rps", rps},
        {"p50_us", total.latency_us.quantile(0.50)},
        {"p99_us", total.latency_us.quantile(0.99)},
        {"p999_us", total.latency_us.quantile(0.999)},
        {"max_us", total.latency_us.max()},
        {"server_cpu_s", have_cpu ? nlohmann::json(server_cpu) : nlohmann::json()},
        {"msgs_per_server_cpu_s", have_cpu ? nlohmann::json(per_cpu) : nlohmann::json()},
        {"client_cpu_s", client_cpu1 - client_cpu0},
        {"other_cpu_s", have_other ? nlohmann::json(other_cpu) : nlohmann::json()},
        {"error_replies", total.error_replies},
        {"unmatched", total.unmatched},
        {"disconnects", disconnects},
        {"skipped", total.skipped},
        {"errors", errors},
    };
    if (!shared.reasons.empty()) j["first_failure"] = shared.reasons.front();
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("url                 %s\n", opt.url.c_str());
    std::printf("connections         %u open (%u failed), inflight %u, client threads %u\n",
                opened, shared.connect_failed.load(), opt.inflight, opt.threads);
    std::printf("window              %.2f s (after %.1f s warm-up), rate target %s\n", window,
                opt.warmup_s, opt.rate > 0 ? std::to_string(opt.rate).c_str() : "max");
    std::printf("requests            %llu (%.0f req/s)\n",
                static_cast<unsigned long long>(total.completed_measured), rps);
    std::printf("latency us          p50 %llu  p99 %llu  p99.9 %llu  max %llu\n",
                static_cast<unsigned long long>(total.latency_us.quantile(0.50)),
                static_cast<unsigned long long>(total.latency_us.quantile(0.99)),
                static_cast<unsigned long long>(total.latency_us.quantile(0.999)),
                static_cast<unsigned long long>(total.latency_us.max()));
    if (have_cpu) {
      std::printf("server cpu          %.2f s (%.0f msgs per server cpu-second)\n", server_cpu,
                  per_cpu);
    } else {
      std::printf("server cpu          n/a (pass --server-pid)\n");
    }
    std::printf("client cpu          %.2f s\n", client_cpu1 - client_cpu0);
    if (have_other) {
      std::printf("other processes     %.2f cpu-s during the window%s\n", other_cpu,
                  other_cpu > 0.05 * window ? " (machine not idle: figures disturbed)" : "");
    }
    std::printf("errors              %llu (error replies %llu, unmatched %llu, "
                "disconnects %u, skipped sends %llu)\n",
                static_cast<unsigned long long>(errors),
                static_cast<unsigned long long>(total.error_replies),
                static_cast<unsigned long long>(total.unmatched), disconnects,
                static_cast<unsigned long long>(total.skipped));
    for (const auto& r : shared.reasons) std::printf("  failure: %s\n", r.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace shardd::bench

int main(int argc, char** argv) {
  shardd::bench::Options opt;
  CLI::App app{"WebSocket request/response load generator (sys.ping)"};
  app.add_option("--url", opt.url, "ws://host:port/path")->capture_default_str();
  app.add_option("--connections", opt.connections, "Connections to open")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--inflight", opt.inflight, "Requests outstanding per connection")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--duration", opt.duration_s, "Measured window, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--warmup", opt.warmup_s, "Warm-up before the window, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--rate", opt.rate, "Total requests/s, paced evenly (0: as fast as possible)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e8));
  app.add_option("--threads", opt.threads, "Client io threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--server-pid", opt.server_pid, "Server process to charge CPU time to");
  app.add_option("--connect-rate", opt.connect_rate, "New connections per second")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--connect-pending", opt.connect_pending, "Handshakes in progress at most")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000u));
  app.add_flag("--json", opt.json, "Print one JSON line of results");
  CLI11_PARSE(app, argc, argv);
  return shardd::bench::run(opt);
}
