#include "shardd_test/service_fixture.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "shardd/core/io_pool.h"
#include "shardd/core/log.h"
#include "shardd/core/scheduler.h"
#include "shardd/core/worker_pool.h"
#include "shardd/gateway/gateway.h"
#include "shardd/net/connection.h"
#include "shardd/store/store.h"

namespace shardd::testing {

namespace asio = boost::asio;
using json = nlohmann::json;

// What a FakeClient sees; written by its connection (io thread), read by
// the test thread.
struct FakeClient::State {
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, json> responses;
  std::deque<json> pushes;
  bool closed = false;
  uint64_t next_rid = 1;
  std::shared_ptr<FakeConnection> conn;
};

// A connection that lives in memory: what the gateway sends is decoded into
// the client's state; what the client sends is handed to the gateway's
// handler on the connection's executor, as a socket read would.
class FakeConnection final : public net::Connection,
                             public std::enable_shared_from_this<FakeConnection> {
 public:
  FakeConnection(uint64_t id, std::string ip, Executor ex, std::shared_ptr<FakeClient::State> state)
      : Connection(id, net::Transport::kWs, false, std::move(ip), 40000, ex),
        state_(std::move(state)) {}

  void attach(std::shared_ptr<net::ConnectionHandler> h) { handler_ = std::move(h); }

  bool send(net::OutFrame&& frame) override {
    if (closing_) return false;
    std::string text = frame.flat();
    json j = json::parse(text, nullptr, false);
    std::lock_guard lock(state_->mu);
    if (j.contains("rid") && j.contains("ok") && j["rid"].is_number_unsigned()) {
      uint64_t rid = j["rid"].get<uint64_t>();
      state_->responses[rid] = std::move(j);
    } else {
      state_->pushes.push_back(std::move(j));
    }
    state_->cv.notify_all();
    return true;
  }
  void close(uint16_t, std::string_view why) override { finish(why); }
  void abort(std::string_view why) override { finish(why); }
  size_t queued_bytes() const override { return 0; }

  // Test thread: one inbound message.
  void deliver(std::string text) {
    asio::post(executor(), [self = shared_from_this(), text = std::move(text)] {
      if (self->handler_ && !self->closing_) self->handler_->on_message(text, net::Encoding::kJson);
    });
  }
  void drop() {
    asio::post(executor(), [self = shared_from_this()] { self->finish("network dropped"); });
  }

 private:
  // On the executor (the gateway calls close/abort there too).
  void finish(std::string_view why) {
    if (closing_) return;
    closing_ = true;
    {
      std::lock_guard lock(state_->mu);
      state_->closed = true;
      state_->cv.notify_all();
    }
    // As a real connection does: the handler hears on_closed once, later.
    asio::post(executor(), [self = shared_from_this(), why = std::string(why)] {
      auto h = std::move(self->handler_);
      if (h) h->on_closed(why);
    });
  }

  std::shared_ptr<FakeClient::State> state_;
  std::shared_ptr<net::ConnectionHandler> handler_;
  bool closing_ = false;
};

FakeClient::~FakeClient() {
  if (!state_) return;
  std::shared_ptr<FakeConnection> conn;
  {
    std::lock_guard lock(state_->mu);
    conn = std::move(state_->conn);  // breaks the client <-> connection cycle
  }
  if (conn) conn->drop();  // the posted drop keeps the connection until it ran
}

json FakeClient::request(const std::string& op, const json& d, std::chrono::milliseconds timeout) {
  uint64_t rid;
  {
    std::lock_guard lock(state_->mu);
    rid = state_->next_rid++;
  }
  std::shared_ptr<FakeConnection> conn;
  {
    std::lock_guard lock(state_->mu);
    conn = state_->conn;
  }
  conn->deliver(json{{"op", op}, {"rid", rid}, {"d", d}}.dump());
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, timeout, [&] { return state_->responses.count(rid) > 0; })) {
    return nullptr;
  }
  json r = std::move(state_->responses[rid]);
  state_->responses.erase(rid);
  return r;
}

json FakeClient::wait_push(const std::string& op, std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mu);
  json found;
  state_->cv.wait_for(lock, timeout, [&] {
    for (auto it = state_->pushes.begin(); it != state_->pushes.end(); ++it) {
      if ((*it).value("op", "") == op) {
        found = std::move(*it);
        state_->pushes.erase(it);
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<json> FakeClient::pushes() {
  std::lock_guard lock(state_->mu);
  return {state_->pushes.begin(), state_->pushes.end()};
}

std::vector<json> FakeClient::take_pushes() {
  std::lock_guard lock(state_->mu);
  std::vector<json> out(state_->pushes.begin(), state_->pushes.end());
  state_->pushes.clear();
  return out;
}

bool FakeClient::closed() {
  std::lock_guard lock(state_->mu);
  return state_->closed;
}

void FakeClient::drop() {
  std::shared_ptr<FakeConnection> conn;
  {
    std::lock_guard lock(state_->mu);
    conn = state_->conn;
  }
  if (conn) conn->drop();
}

namespace {

// Admin routes are collected (the fixture has no HTTP listener).
class CollectingRoutes final : public admin::Routes {
 public:
  void add_route(std::string method, std::string path, args::Schema schema,
                 admin::RouteHandler handler) override {
    routes[method + " " + path] = {std::move(schema), std::move(handler)};
  }
  std::map<std::string, std::pair<args::Schema, admin::RouteHandler>> routes;
};

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "shardd-fixture-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  return made ? std::string(made) : std::string();
}

config::Schema schema_of(const std::vector<services::ServiceDef>& defs) {
  config::Schema s;
  for (const auto& d : defs) {
    s.add_module(d.name);
    for (const auto* sec : d.config) s.add(*sec);
  }
  return s;
}

}  // namespace

struct ServiceFixture::Impl {
  std::vector<services::ServiceDef> defs;
  config::Schema schema;
  std::string dir;
  std::vector<std::string> base_overrides;
  Config config;
  FakeClock clock;
  metrics::Registry metrics;
  net::LiveLimits limits;
  std::unique_ptr<IoPool> io;
  std::unique_ptr<WorkerPool> logic;
  std::unique_ptr<WorkerPool> storage;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<gateway::Gateway> gateway;
  asio::io_context control;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> control_guard;
  std::thread control_thread;
  std::unique_ptr<Scheduler> scheduler;
  CollectingRoutes routes;
  services::Directory directory;
  std::vector<std::unique_ptr<services::ServiceContext>> contexts;
  std::vector<std::unique_ptr<services::Service>> services;
  std::atomic<uint64_t> next_conn{1};

  bool load(const std::vector<std::string>& overrides, const std::string& toml, Config* out) {
    std::vector<std::string> all = base_overrides;
    all.insert(all.end(), overrides.begin(), overrides.end());
    std::vector<ConfigError> errors;
    Status st = parse_config(toml, "fixture.toml", all, schema, out, &errors);
    for (const auto& e : errors) ADD_FAILURE() << "fixture config: " << e.key << ": " << e.reason;
    return st.ok();
  }

  // Runs `fn` on the control thread (where services start and reload).
  template <class Fn>
  void on_control(Fn fn) {
    std::promise<void> done;
    asio::post(control, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
};

ServiceFixture::ServiceFixture(std::vector<services::ServiceDef> defs,
                               std::vector<std::string> overrides, std::string config_toml)
    : impl_(std::make_unique<Impl>()) {
  Impl& f = *impl_;
  f.defs = std::move(defs);
  f.schema = schema_of(f.defs);
  f.dir = make_temp_dir();
  f.base_overrides = {"server.data_dir=" + f.dir, "store.backend=sqlite", "cache.backend=memory",
                      "sqlite.synchronous=normal", "admin.enabled=false"};
  if (!f.load(overrides, config_toml, &f.config)) return;
  f.base_overrides.insert(f.base_overrides.end(), overrides.begin(), overrides.end());
  f.limits.apply(f.config);
  f.io = std::make_unique<IoPool>(1, "io", &f.metrics);
  f.logic = std::make_unique<WorkerPool>("logic", 2, &f.metrics);
  f.storage = std::make_unique<WorkerPool>("storage", 2, &f.metrics);
  f.store = std::make_unique<store::Store>(f.config, *f.storage, f.metrics);
  for (const auto& d : f.defs) f.store->add_migrations({d.name, d.migrations});
  Status st = f.store->start(true);
  EXPECT_TRUE(st.ok()) << st.to_string();
  f.gateway = std::make_unique<gateway::Gateway>(f.config, f.limits, f.metrics);
  f.control_guard.emplace(f.control.get_executor());
  f.control_thread = std::thread([&f] { f.control.run(); });
  f.scheduler = std::make_unique<Scheduler>(f.control.get_executor(), f.metrics);
  f.on_control([&f] {
    for (const auto& d : f.defs) {
      Status es = f.gateway->add_error_codes(d.name, d.errors);
      EXPECT_TRUE(es.ok()) << es.to_string();
      f.contexts.push_back(std::make_unique<services::ServiceContext>(
          d.name, f.config, *f.gateway, *f.store, *f.logic, *f.scheduler, f.metrics, f.routes,
          f.clock, f.directory));
      f.services.push_back(d.create(*f.contexts.back()));
      Status ss = f.services.back()->start();
      EXPECT_TRUE(ss.ok()) << d.name << ": " << ss.to_string();
    }
  });
  f.io->start();
}

ServiceFixture::~ServiceFixture() {
  Impl& f = *impl_;
  if (f.io) {
    // Every connection closes and its session ends (their close callbacks
    // run on the io thread) before the threads stop, so nothing leaks.
    f.gateway->drain("fixture ends");
    f.gateway->abort_all("fixture ends");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (f.gateway->session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    f.on_control([&f] { f.scheduler->stop(); });
    f.io->release_work();
    f.io->stop();
    f.io->join();
    f.logic->join();
    for (auto& s : f.services) s->stop();
    f.store->flush_write_behind();
    f.store->stop();
    f.storage->join();
    // Handlers still queued (a session's cancelled grace timer, say) hold
    // sessions, and through the gateway's routes the services, whose timers
    // live on the logic contexts: drop them while every context is alive, as
    // the server does.
    f.io->discard_pending();
    f.logic->discard_pending();
    f.storage->discard_pending();
  }
  f.control_guard.reset();
  if (f.control_thread.joinable()) f.control_thread.join();
  f.services.clear();
  f.contexts.clear();
  std::error_code ec;
  if (!f.dir.empty()) std::filesystem::remove_all(f.dir, ec);
}

std::unique_ptr<FakeClient> ServiceFixture::connect(const std::string& remote_ip) {
  Impl& f = *impl_;
  auto client = std::unique_ptr<FakeClient>(new FakeClient());
  client->state_ = std::make_shared<FakeClient::State>();
  auto conn = std::make_shared<FakeConnection>(f.next_conn++, remote_ip,
                                               f.io->context(0).get_executor(), client->state_);
  client->state_->conn = conn;
  std::promise<void> ready;
  auto factory = f.gateway->handler_factory();
  asio::post(f.io->context(0), [&] {
    conn->attach(factory(conn));
    ready.set_value();
  });
  ready.get_future().wait();
  client->wait_push("sys.hello");
  return client;
}

FakeClock& ServiceFixture::clock() {
  return impl_->clock;
}
const Config& ServiceFixture::config() const {
  return impl_->config;
}
gateway::Gateway& ServiceFixture::gateway() {
  return *impl_->gateway;
}
store::Store& ServiceFixture::store() {
  return *impl_->store;
}
std::string ServiceFixture::metrics_text() {
  return impl_->metrics.render();
}

bool ServiceFixture::reload(std::vector<std::string> overrides, std::string config_toml) {
  Impl& f = *impl_;
  Config fresh;
  std::vector<ConfigError> errors;
  std::vector<std::string> all = f.base_overrides;
  all.insert(all.end(), overrides.begin(), overrides.end());
  if (!parse_config(config_toml, "fixture.toml", all, f.schema, &fresh, &errors).ok()) {
    return false;
  }
  f.on_control([&] {
    f.config = merge_live(f.config, fresh);
    f.limits.apply(f.config);
    log::apply_levels(f.config.log);
    f.gateway->reload(f.config);
    for (auto& s : f.services) s->reload(f.config);
  });
  return true;
}

json ServiceFixture::admin(const std::string& method, const std::string& path, const json& args) {
  auto it = impl_->routes.routes.find(method + " " + path);
  if (it == impl_->routes.routes.end()) return {{"status", 404}};
  Status st = args::check(args, it->second.first);
  if (!st.ok()) return {{"status", 400}, {"body", {{"error", st.message()}}}};
  auto answer = std::make_shared<std::promise<json>>();
  auto fut = answer->get_future();
  auto once = std::make_shared<std::once_flag>();
  it->second.second(args, [answer, once](int status, json body) {
    std::call_once(*once, [&] {
      answer->set_value({{"status", status}, {"body", std::move(body)}});
    });
  });
  if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return nullptr;
  return fut.get();
}

}  // namespace shardd::testing
