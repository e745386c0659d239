#include "shardd/app/server.h"

#include <openssl/opensslv.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/version.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "session_routes.h"
#include "shardd/admin/admin_server.h"
#include "shardd/app/services.h"
#include "shardd/core/clock.h"
#include "shardd/core/config.h"
#include "shardd/core/io_pool.h"
#include "shardd/core/log.h"
#include "shardd/core/metrics.h"
#include "shardd/core/scheduler.h"
#include "shardd/core/systemd.h"
#include "shardd/core/worker_pool.h"
#include "shardd/gateway/gateway.h"
#include "shardd/net/connection.h"
#include "shardd/net/net_server.h"
#include "shardd/store/store.h"
#include "shardd/version.h"

namespace shardd::app {

namespace asio = boost::asio;

namespace {

// After the drain deadline, how long dropped connections get to finish
// their close callbacks before the threads are stopped anyway.
constexpr int kAbortGraceMs = 500;

bool load(const CommandLine& cmd, Config* out) {
  std::vector<ConfigError> errors;
  Status st = load_config(cmd.config_path, cmd.overrides, config_schema(), out, &errors);
  if (st.ok()) return true;
  for (const auto& e : errors) {
    std::cerr << "config error: " << (e.key.empty() ? cmd.config_path : e.key) << ": " << e.reason
              << "\n";
  }
  std::cerr << st.message() << "\n";
  return false;
}

// Creates the data directory (owner-only when it is new: it holds the
// database, with password and token hashes).
bool make_data_dir(const std::string& dir) {
  std::error_code ec;
  bool created = std::filesystem::create_directories(dir, ec);
  if (ec) {
    log::get("app").critical("cannot create data_dir {}: {}", dir, ec.message());
    return false;
  }
  if (created) std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  return true;
}

// Where services add admin routes when the admin listener is disabled:
// nowhere (the routes are never served).
class UnservedRoutes final : public admin::Routes {
 public:
  void add_route(std::string, std::string, args::Schema, admin::RouteHandler) override {}
};

void add_migrations(store::Store& store) {
  for (const auto& def : service_defs()) store.add_migrations({def.name, def.migrations});
}

// Everything one running shardd process owns, in construction order.
class Server {
 public:
  Server(CommandLine cmd, Config config)
      : cmd_(std::move(cmd)),
        config_(std::move(config)),
        server_name_(config_.server.name),
        io_(config_.io_thread_count(), "io", &metrics_),
        logic_("logic", config_.logic_thread_count(), &metrics_),
        storage_("storage", config_.storage_thread_count(), &metrics_),
        store_(config_, storage_, metrics_),
        gateway_(config_, limits_, metrics_),
        signals_(control_, SIGINT, SIGTERM, SIGHUP),
        scheduler_(control_.get_executor(), metrics_),
        drain_timer_(control_) {
    limits_.apply(config_);
    add_migrations(store_);
    metrics::add_process_collector(metrics_);
    metrics_.gauge("shardd_build_info", "Build information (value 1).", {{"version", kVersion}})
        .set(1);
    metrics_.gauge("shardd_io_threads", "io threads.").set(static_cast<int64_t>(io_.size()));
    metrics_.gauge("shardd_logic_threads", "Logic pool threads.").set(config_.logic_thread_count());
    ready_gauge_ = &metrics_.gauge("shardd_ready",
                                   "1 while accepting players (listening, not draining, "
                                   "database reachable).");
    reloads_ = &metrics_.counter("shardd_config_reloads_total", "SIGHUP reloads applied.");
    reload_failures_ =
        &metrics_.counter("shardd_config_reload_failures_total", "SIGHUP reloads rejected.");
  }

  // Every pool's queued handlers are dropped before any pool is destroyed: a
  // handler left on an io context can own a session, whose gateway owns the
  // routes, whose service owns a timer on the logic pool. Destroying the
  // pools in member order freed the logic pool's timer service first (ASan:
  // heap-use-after-free in ~io_context at exit, seen once the test harness
  // stopped shardd with SIGTERM and read its sanitizer log).
  ~Server() {
    io_.stop();
    io_.join();
    logic_.stop_now();
    logic_.join();
    storage_.stop_now();
    storage_.join();
    io_.discard_pending();
    logic_.discard_pending();
    storage_.discard_pending();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int run() {
    auto& lg = log::get("app");
    lg.info("{} {} starting (io_threads={}, logic_threads={}, storage_threads={})", kServerName,
            kVersion, io_.size(), config_.logic_thread_count(), config_.storage_thread_count());
    if (!make_data_dir(config_.server.data_dir)) return kExitFailure;

    store_.on_readiness(
        [this](bool, const std::string&) { asio::post(control_, [this] { update_ready(); }); });
    Status st = store_.start(config_.store.auto_migrate);
    if (!st.ok()) {
      lg.critical("storage: {}", st.message());
      shutdown_pools();
      return kExitFailure;
    }

    net_ = std::make_unique<net::NetServer>(config_, limits_, io_, metrics_,
                                            gateway_.handler_factory());
    st = net_->open();
    if (!st.ok()) {
      lg.critical("{}", st.message());
      shutdown_pools();
      return kExitFailure;
    }
    if (config_.admin.enabled) {
      admin_ = std::make_unique<admin::AdminServer>(
          config_, io_, metrics_,
          admin::AdminServer::Hooks{[this] { return ready(); }, [this] { return status(); }});
      st = admin_->open();
      if (!st.ok()) {
        lg.critical("{}", st.message());
        shutdown_pools();
        return kExitFailure;
      }
    }

    admin::Routes& routes = admin_ ? static_cast<admin::Routes&>(*admin_) : unserved_;
    add_session_routes(routes, gateway_);
    add_announce_route(routes, gateway_);
    add_error_route(routes, gateway_);
    st = start_services(routes);
    if (!st.ok()) {
      lg.critical("{}", st.message());
      shutdown_pools();
      return kExitFailure;
    }
    if (admin_) admin_->set_ops_source([this] { return gateway_.router().describe(); });

    io_.start();
    net_->start();
    if (admin_) admin_->start();
    write_ports_file();
    start_watchdog();
    scheduler_.every_async(
        "write_behind_flush", std::chrono::milliseconds(config_.store.write_behind_ms),
        [this](Scheduler::Done done) {
          store_.flush_write_behind_async([done](store::DbStatus fs) {
            done(fs.ok() ? Status::Ok() : Status(ErrorCode::kUnavailable, fs.message()));
          });
        });
    // The database's reachability, checked every second, keeps readiness
    // true without traffic (see Store::check_health).
    scheduler_.every_async(
        "store_health", std::chrono::milliseconds(1000),
        [this](Scheduler::Done done) { store_.check_health([done] { done(Status::Ok()); }); });
    signals_.async_wait([this](boost::system::error_code ec, int sig) { on_signal(ec, sig); });

    serving_ = true;
    systemd::notify_ready();
    lg.info("listening: ws={} tcp={} admin={}", net_->ws_port(), net_->tcp_port(),
            admin_ ? admin_->port() : 0);
    update_ready();

    control_.run();  // until the drain finishes

    lg.info("stopping threads");
    scheduler_.stop();
    if (admin_) admin_->stop();
    io_.stop();
    io_.join();
    logic_.join();
    store::DbStatus fst = store_.flush_write_behind();
    if (!fst.ok()) lg.error("final write-behind flush failed: {}", fst.message());
    shutdown_pools();
    if (!config_.server.ports_file.empty()) {
      std::error_code ec;
      std::filesystem::remove(config_.server.ports_file, ec);
    }
    lg.info("stopped");
    log::flush();
    return kExitOk;
  }

 private:
  void shutdown_pools() {
    io_.stop();
    io_.join();
    logic_.join();
    // Services may still write (chat's last batch) before the store stops.
    for (auto& s : services_) s->stop();
    store_.stop();
    storage_.join();
  }

  // Accepting players: listening, not draining, and the database reachable.
  // The one answer for /readyz, /admin/status, shardd_ready and the log.
  bool ready() const { return serving_.load() && !draining_.load() && store_.ready(); }

  std::string not_ready_reason() const {
    if (draining_.load()) return "draining";
    if (!serving_.load()) return "starting";
    if (!store_.ready()) return "database: " + store_.not_ready_reason();
    return "";
  }

  // Control thread: brings shardd_ready, systemd's status line and the log
  // in line with ready().
  void update_ready() {
    bool now = ready();
    ready_gauge_->set(now ? 1 : 0);
    if (!serving_.load() || last_ready_ == now) return;
    last_ready_ = now;
    auto& lg = log::get("app");
    if (now) {
      lg.info("ready: ws={} tcp={} admin={}", net_->ws_port(), net_->tcp_port(),
              admin_ ? admin_->port() : 0);
      systemd::notify_status("serving");
    } else if (!draining_.load()) {
      std::string why = not_ready_reason();
      lg.warn("not ready: {}", why);
      systemd::notify_status("not ready: " + why);
    }
  }

  nlohmann::json status() {
    std::string reason = not_ready_reason();
    nlohmann::json out = {
        {"name", server_name_},
        {"store",
         {{"backend", store_.backend_description()},
          {"ready", store_.ready()},
          {"not_ready_reason",
           store_.ready() ? nlohmann::json() : nlohmann::json(store_.not_ready_reason())}}},
        {"version", kVersion},
        {"pid", ::getpid()},
        {"ready", reason.empty()},
        {"not_ready_reason", reason.empty() ? nlohmann::json() : nlohmann::json(reason)},
        {"draining", draining_.load()},
        {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now() - started_)
                         .count()},
        {"sessions", gateway_.session_count()},
        {"connections", net_ ? net_->live_connections() : 0},
        {"ports",
         {{"ws", net_->ws_port()},
          {"tcp", net_->tcp_port()},
          {"admin", admin_ ? admin_->port() : 0}}}};
    // Each service adds its own members (the account service: "zones").
    for (const auto& svc : services_) {
      nlohmann::json part = svc->status();
      if (part.is_object()) out.update(part);
    }
    return out;
  }

  // Registers every service's error codes, then creates and starts the
  // services in list order.
  Status start_services(admin::Routes& routes) {
    for (const auto& def : service_defs()) {
      Status st = gateway_.add_error_codes(def.name, def.errors);
      if (!st.ok()) return st;
    }
    for (const auto& def : service_defs()) {
      contexts_.push_back(std::make_unique<services::ServiceContext>(
          def.name, config_, gateway_, store_, logic_, scheduler_, metrics_, routes, clock_,
          directory_));
      services_.push_back(def.create(*contexts_.back()));
      Status st = services_.back()->start();
      if (!st.ok()) return Status(st.code(), def.name + " service: " + st.message());
    }
    return Status::Ok();
  }

  void write_ports_file() {
    const std::string& path = config_.server.ports_file;
    if (path.empty()) return;
    nlohmann::json j = {{"ws", net_->ws_port()},
                        {"tcp", net_->tcp_port()},
                        {"admin", admin_ ? admin_->port() : 0},
                        {"pid", ::getpid()}};
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      out << j.dump() << "\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) log::get("app").error("cannot write ports_file {}: {}", path, ec.message());
  }

  void on_signal(boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
    } else if (!draining_) {
      begin_drain(sig == SIGINT ? "SIGINT" : "SIGTERM");
    } else {
      log::get("app").warn("second stop signal: stopping now without waiting for clients");
      control_.stop();
      return;
    }
    signals_.async_wait([this](boost::system::error_code e, int s) { on_signal(e, s); });
  }

  void reload() {
    auto& lg = log::get("app");
    systemd::notify_reloading();
    Config fresh;
    std::vector<ConfigError> errors;
    Status st = load_config(cmd_.config_path, cmd_.overrides, config_schema(), &fresh, &errors);
    if (!st.ok()) {
      for (const auto& e : errors) lg.error("reload: {}: {}", e.key, e.reason);
      lg.error("reload rejected ({}); keeping the running configuration", st.message());
      reload_failures_->inc();
      systemd::notify_ready();
      return;
    }
    ConfigDiff diff = diff_config(config_, fresh);
    Config next = merge_live(config_, fresh);
    st = net_->reload(next);
    if (!st.ok()) {
      lg.error("reload rejected: {}; keeping the running configuration", st.message());
      reload_failures_->inc();
      systemd::notify_ready();
      return;
    }
    config_ = std::move(next);
    limits_.apply(config_);
    log::apply_levels(config_.log);
    if (admin_) admin_->reload(config_);
    gateway_.reload(config_);
    for (auto& s : services_) s->reload(config_);
    for (const auto& line : diff.live) lg.info("reload: applied {}", line);
    for (const auto& line : diff.restart_required) {
      lg.warn("reload: not applied (needs a restart) {}", line);
    }
    if (diff.live.empty() && diff.restart_required.empty()) lg.info("reload: no changes");
    reloads_->inc();
    systemd::notify_ready();
  }

  void begin_drain(const char* why) {
    auto& lg = log::get("app");
    draining_ = true;
    update_ready();
    systemd::notify_stopping();
    systemd::notify_status("draining");
    lg.info("{}: draining (deadline {} ms)", why, config_.server.shutdown_deadline_ms);
    net_->stop_accepting();
    size_t told = gateway_.drain("server shutting down");
    lg.info("told {} sessions to reconnect later", told);
    drain_timer_.expires_after(std::chrono::milliseconds(config_.server.shutdown_deadline_ms));
    drain_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      log::get("app").warn("drain deadline reached with {} connections open; dropping them",
                           net_->live_connections());
      // Drop what is left without a close handshake and give the io threads
      // a moment to run the close callbacks (they free the sessions); stop
      // regardless after kAbortGraceMs.
      gateway_.abort_all("drain deadline reached");
      drain_timer_.expires_after(std::chrono::milliseconds(kAbortGraceMs));
      drain_timer_.async_wait([this](boost::system::error_code ec2) {
        if (!ec2) control_.stop();
      });
    });
    net_->when_drained([this] {
      asio::post(control_, [this] {
        log::get("app").info("all connections closed");
        control_.stop();
      });
    });
  }

  // Pings systemd's watchdog only while every io thread and the logic pool
  // still run posted work: a wedged thread stops the pings and systemd restarts us.
  void start_watchdog() {
    auto interval = systemd::watchdog_interval();
    if (!interval) return;
    auto half = std::chrono::duration_cast<std::chrono::milliseconds>(*interval / 2);
    if (half.count() < 10) half = std::chrono::milliseconds(10);
    log::get("app").info("systemd watchdog every {} ms", half.count());
    scheduler_.every("watchdog", half, [this] {
      if (probes_pending_.load() == 0)
        systemd::notify_watchdog();
      else
        log::get("app").warn("watchdog: {} thread probes outstanding", probes_pending_.load());
      probes_pending_.store(static_cast<int>(io_.size()) + 1);
      for (size_t i = 0; i < io_.size(); ++i) {
        asio::post(io_.context(i), [this] { probes_pending_.fetch_sub(1); });
      }
      asio::post(logic_, [this] { probes_pending_.fetch_sub(1); });
      return Status::Ok();
    });
  }

  CommandLine cmd_;
  Config config_;                  // only touched on the control (main) thread after start
  const std::string server_name_;  // server.name needs a restart: any thread may read it
  net::LiveLimits limits_;
  metrics::Registry metrics_;
  IoPool io_;
  WorkerPool logic_;
  WorkerPool storage_;
  store::Store store_;
  gateway::Gateway gateway_;
  std::unique_ptr<net::NetServer> net_;
  std::unique_ptr<admin::AdminServer> admin_;
  SystemClock clock_;
  UnservedRoutes unserved_;
  services::Directory directory_;
  std::vector<std::unique_ptr<services::ServiceContext>> contexts_;
  std::vector<std::unique_ptr<services::Service>> services_;  // in service_defs() order

  asio::io_context control_{1};
  asio::signal_set signals_;
  Scheduler scheduler_;
  asio::steady_timer drain_timer_;
  std::atomic<bool> serving_{false};
  std::atomic<bool> draining_{false};
  std::optional<bool> last_ready_;  // control thread; unset until listening
  std::atomic<int> probes_pending_{0};
  metrics::Gauge* ready_gauge_ = nullptr;
  metrics::Counter* reloads_ = nullptr;
  metrics::Counter* reload_failures_ = nullptr;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace

int run_server(const CommandLine& cmd) {
  Config config;
  if (!load(cmd, &config)) return kExitConfigError;
  log::init(config.log);
  Server server(cmd, std::move(config));
  return server.run();
}

int check_config(const CommandLine& cmd) {
  Config config;
  if (!load(cmd, &config)) return kExitConfigError;
  std::cout << "# effective configuration of " << cmd.config_path << " (valid)\n"
            << render_config(config);
  return kExitOk;
}

namespace {

// Runs `fn` against a Store built from the configuration (no listeners).
// `read_only`: creates nothing (not even the data directory).
int with_store(const CommandLine& cmd, bool read_only,
               const std::function<int(store::Store&)>& fn) {
  Config config;
  if (!load(cmd, &config)) return kExitConfigError;
  LogConfig lc = config.log;
  lc.format = "human";
  log::init(lc);
  if (!read_only && !make_data_dir(config.server.data_dir)) {
    std::cerr << "cannot create data_dir " << config.server.data_dir << "\n";
    return kExitFailure;
  }
  metrics::Registry metrics;
  WorkerPool pool("storage", 2, &metrics);
  int rc;
  {
    store::Store store(config, pool, metrics);
    add_migrations(store);
    rc = fn(store);
    store.stop();
  }
  pool.join();
  return rc;
}

}  // namespace

int migrate(const CommandLine& cmd, bool status_only) {
  return with_store(cmd, status_only, [status_only](store::Store& store) {
    if (status_only) {
      std::vector<store::MigrationState> states;
      store::DbStatus st = store.migration_status(&states);
      if (!st.ok()) {
        std::cerr << "migrate: " << st.message() << "\n";
        return kExitFailure;
      }
      std::cout << "migrations of " << store.backend_description() << ":\n";
      for (const auto& m : states) {
        std::cout << "  " << m.module << " " << m.version << "  "
                  << (m.applied ? "applied " + m.applied_at : "pending") << "  " << m.name << "\n";
      }
      return kExitOk;
    }
    std::vector<std::string> applied;
    store::DbStatus st = store.migrate(&applied);
    for (const auto& a : applied) std::cout << "applied " << a << "\n";
    if (!st.ok()) {
      std::cerr << "migrate failed: " << st.message() << "\n";
      return kExitFailure;
    }
    if (applied.empty()) std::cout << "schema is up to date\n";
    return kExitOk;
  });
}

int backup(const CommandLine& cmd, const std::string& out_path) {
  return with_store(cmd, false, [&](store::Store& store) {
    Status st = store.backup(out_path);
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      return kExitFailure;
    }
    std::cout << "backup written to " << out_path << "\n";
    return kExitOk;
  });
}

int restore(const CommandLine& cmd, const std::string& in_path) {
  return with_store(cmd, false, [&](store::Store& store) {
    Status st = store.restore(in_path);
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      return kExitFailure;
    }
    std::cout << "restored " << in_path << " into " << store.backend_description() << "\n";
    return kExitOk;
  });
}

int print_config_keys() {
  std::cout << config::describe_markdown(config_schema());
  return kExitOk;
}

int print_version() {
  std::cout << kServerName << " " << kVersion << "\n"
            << "  boost " << BOOST_VERSION / 100000 << "." << BOOST_VERSION / 100 % 1000 << "."
            << BOOST_VERSION % 100 << ", " << OPENSSL_VERSION_TEXT << ", g++ " << __VERSION__
            << "\n  " << store::Store::library_versions() << "\n";
  return kExitOk;
}

}  // namespace shardd::app
