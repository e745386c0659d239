// The service framework, exercised by a small service written the way a
// game service is: a ServiceDef with its own config section, migration,
// error code and push; an Actor for its ops; an ActorMap for per-key state;
// a BlockingPool for blocking work.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

#include "shardd/services/actor.h"
#include "shardd/services/actor_map.h"
#include "shardd_test/service_fixture.h"

namespace shardd::services {
namespace {

using json = nlohmann::json;
using shardd::testing::ServiceFixture;
using namespace std::chrono_literals;

struct TallyConfig {
  uint32_t max_keys = 3;
};
const config::Section<TallyConfig>& tally_section() {
  static const auto s =
      config::Section<TallyConfig>("tally", "test service")
          .uint("max_keys", &TallyConfig::max_keys, 1, 100, config::kRestart, "most counters");
  return s;
}

constexpr ErrorDef kTallyFullDef{"TALLY_FULL", false, "too many counters"};
constexpr ErrorCode kTallyFull{kTallyFullDef};

const std::vector<store::Migration>& tally_migrations() {
  static const std::vector<store::Migration> m = {
      {1, "tallies", "CREATE TABLE tallies (k VARCHAR(32) NOT NULL PRIMARY KEY, n BIGINT NOT NULL)",
       ""}};
  return m;
}

constexpr store::Stmt kUpsert{"tally.upsert",
                              "INSERT INTO tallies (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE "
                              "SET n = excluded.n"};

class Tally final : public Actor<Tally> {
 public:
  struct Counter {
    int64_t n = 0;
  };

  // `gate`: tally.slow's job holds its pool slot until the gate opens.
  Tally(ServiceContext& ctx, std::shared_future<void> gate)
      : Actor(ctx),
        gate_(std::move(gate)),
        counters_(ctx.logic(), tally_section().of(ctx.config()).max_keys,
                  [](const std::string&) { return Counter{}; }),
        slow_("tally_slow", 1, 1, ctx.metrics()) {}

  Status start() {
    changed_ = &ctx().gateway().push_op("tally.changed", gateway::PushOptions{false, {}});
    gateway::RouteOptions add;
    add.args = {args::str("key", 1, 32), args::integer("n", -100, 100)};
    Status st = route("tally.add", &Tally::on_add, add);
    if (st.ok()) st = route("tally.slow", &Tally::on_slow);
    return st;
  }

 private:
  // Runs on the key's strand, persists, answers after the write.
  void on_add(gateway::Request req) {
    std::string key = args::str(req.d(), "key");
    int64_t n = args::int_of(req.d(), "n");
    counters_.post_or_create(key, [this, self = shared_from_this(), key, n, req = std::move(req)](
                                      Counter* c, auto entry) mutable {
      if (!c) return req.fail(kTallyFull, "too many counters");
      c->n += n;
      int64_t value = c->n;
      // Storage completes on this key's strand (Actor::store would complete
      // on the service's own strand).
      ctx().store().run_void(
          entry->strand,
          [key, value](store::StoreContext& ctx) {
            store::DbConnection* db = nullptr;
            store::DbStatus st = ctx.db(&db);
            if (st.ok()) st = db->exec(kUpsert, {key, value});
            return st;
          },
          [this, self, entry, req = std::move(req), key, value](store::DbStatus st) mutable {
            if (!st.ok()) return req.fail(st.to_status());
            // Back on the key's strand; the counter may have been retired
            // meanwhile (this test never retires one).
            if (entry->retired) return req.fail(ErrorCode::kUnavailable, "counter gone");
            req.session_ptr()->post_push(*changed_, {{"key", key}, {"n", value}});
            req.ok({{"n", value}});
          });
    });
  }

  void on_slow(gateway::Request req) {
    offload(
        slow_,
        [gate = gate_] {
          gate.wait_for(10s);  // bounded, so a failed test cannot hang
          return 7;
        },
        [req = std::move(req)](Status st, int v) mutable {
          if (!st.ok()) return req.fail(st);
          req.ok({{"v", v}});
        });
  }

  std::shared_future<void> gate_;
  ActorMap<std::string, Counter> counters_;
  BlockingPool slow_;
  const gateway::PushOp* changed_ = nullptr;
};

class TallyService final : public Service {
 public:
  TallyService(ServiceContext& ctx, std::shared_future<void> gate)
      : impl_(std::make_shared<Tally>(ctx, std::move(gate))) {}
  Status start() override { return impl_->start(); }

 private:
  std::shared_ptr<Tally> impl_;
};

std::shared_future<void> open_gate() {
  std::promise<void> p;
  p.set_value();
  return p.get_future().share();
}

ServiceDef tally_def(std::shared_future<void> slow_gate = open_gate()) {
  return {"tally",
          {&tally_section()},
          tally_migrations(),
          {kTallyFull},
          [slow_gate](ServiceContext& ctx) -> std::unique_ptr<Service> {
            return std::make_unique<TallyService>(ctx, slow_gate);
          }};
}

TEST(FrameworkTest, OpsNeedALoginByDefault) {
  ServiceFixture f({tally_def()}, {"tally.max_keys=2"});
  auto c = f.connect();
  // Ops need a login by default; this test service's ops are authed, and
  // nobody logs in here: the gateway says so before the handler runs.
  json r = c->request("tally.add", {{"key", "a"}, {"n", 1}});
  EXPECT_EQ(r["err"]["code"], "UNAUTHORIZED") << r.dump();
}

TEST(FrameworkTest, ServiceOpsRunOnTheirStrandsWithStorageAndPushes) {
  std::promise<void> release_slow;
  ServiceFixture f({tally_def(release_slow.get_future().share())}, {"tally.max_keys=2"});
  auto c = f.connect();
  // Log the fake session in directly (no account service here).
  auto s = f.gateway().find_session(1);
  ASSERT_TRUE(s);
  std::promise<void> done;
  boost::asio::post(s->executor(), [&] {
    s->login(42, "tester");
    done.set_value();
  });
  done.get_future().wait();

  json bad = c->request("tally.add", {{"key", "a"}, {"n", 1000}});
  EXPECT_EQ(bad["err"]["code"], "BAD_REQUEST");
  EXPECT_NE(bad["err"]["msg"].get<std::string>().find("n"), std::string::npos);

  EXPECT_EQ(c->request("tally.add", {{"key", "a"}, {"n", 5}})["d"]["n"], 5);
  EXPECT_EQ(c->request("tally.add", {{"key", "a"}, {"n", -2}})["d"]["n"], 3);
  EXPECT_EQ(c->request("tally.add", {{"key", "b"}, {"n", 1}})["d"]["n"], 1);
  // The module's config bound (2 keys) and its own error code.
  json full = c->request("tally.add", {{"key", "c"}, {"n", 1}});
  EXPECT_EQ(full["err"]["code"], "TALLY_FULL") << full.dump();
  json push = c->wait_push("tally.changed");
  ASSERT_FALSE(push.is_null());
  EXPECT_EQ(push["seq"], 0);  // declared not replayable
  // The module's migration made its table; the rows are there.
  store::DbStatus st = f.store().run_sync([](store::StoreContext& ctx) {
    store::DbConnection* db = nullptr;
    store::DbStatus s2 = ctx.db(&db);
    store::Rows rows;
    static constexpr store::Stmt kSum{"tally.sum", "SELECT SUM(n) FROM tallies"};
    if (s2.ok()) s2 = db->query(kSum, {}, &rows);
    if (s2.ok() && store::as_int(rows.rows[0][0]) != 4)
      s2 = store::DbStatus(store::DbErr::kOther, "sum");
    return s2;
  });
  EXPECT_TRUE(st.ok()) << st.to_string();
  std::vector<store::MigrationState> states;
  ASSERT_TRUE(f.store().migration_status(&states).ok());
  bool found = false;
  for (const auto& m : states)
    found = found || (m.module == "tally" && m.version == 1 && m.applied);
  EXPECT_TRUE(found);

  // The bounded pool: one job at a time; the second is refused at once.
  std::thread first([&] { EXPECT_EQ(c->request("tally.slow", json::object(), 5s)["d"]["v"], 7); });
  // Wait until the first job holds the pool's one slot.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (f.metrics_text().find("shardd_tally_slow_pending 1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  json busy = c->request("tally.slow");
  release_slow.set_value();
  first.join();
  EXPECT_EQ(busy["err"]["code"], "UNAVAILABLE") << busy.dump();
  EXPECT_EQ(busy["err"]["retry_after_ms"], 1000);
}

// `then` always runs once: a job that throws is reported by the barrier,
// answered INTERNAL, and gives its slot back (the pool keeps serving).
TEST(BlockingPoolTest, ThrowingJobAnswersInternalAndFreesItsSlot) {
  metrics::Registry m;
  BlockingPool pool("testpool", 1, 1, m);
  boost::asio::io_context ex;
  std::vector<Status> got;
  pool.submit(
      ex.get_executor(), []() -> int { throw std::runtime_error("boom"); },
      [&](Status st, int) { got.push_back(st); });
  auto deadline = std::chrono::steady_clock::now() + 5s;
  // `ex` runs out of work between posts: restart() before each run.
  auto run_until = [&](size_t n) {
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      ex.restart();
      ex.run_for(5ms);
    }
  };
  run_until(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].code(), ErrorCode::kInternal);
  EXPECT_EQ(pool.pending(), 0);
  int value = 0;
  pool.submit(
      ex.get_executor(), [] { return 5; },
      [&](Status st, int v) {
        got.push_back(st);
        value = v;
      });
  run_until(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[1].ok());
  EXPECT_EQ(value, 5);
  EXPECT_NE(m.render().find("shardd_internal_errors_total{op=\"testpool\"} 1"), std::string::npos)
      << m.render();
  pool.join();
}

TEST(ActorMapTest, OneStatePerKeyUnderConcurrencyAndRetire) {
  WorkerPool pool("logic", 2, nullptr);
  struct State {
    int64_t n = 0;
  };
  std::atomic<int64_t> total{0};
  std::atomic<int> created{0};
  ActorMap<int, State> map(pool, 1000, [&](const int&) {
    created++;
    return State{};
  });
  constexpr int kKeys = 8, kPosts = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        int key = (i + t) % kKeys;
        map.post_or_create(key, [&, i](State* s, const ActorMap<int, State>::EntryPtr& e) {
          ASSERT_TRUE(s);
          // No lock: only this key's strand touches s.
          s->n += 1;
          total++;
          // Now and then a key empties and retires; later work goes to a
          // fresh state, never to the retired one.
          if (i % 97 == 0) map.retire(*e);
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  pool.join();
  EXPECT_EQ(total.load(), 4 * kPosts);
  EXPECT_GT(created.load(), kKeys);  // retired keys came back
  EXPECT_LE(map.size(), static_cast<size_t>(kKeys));
}

TEST(ActorMapTest, BoundedNumberOfKeys) {
  WorkerPool pool("logic", 1, nullptr);
  struct State {};
  ActorMap<int, State> map(pool, 2, [](const int&) { return State{}; });
  std::atomic<int> ran{0}, refused{0};
  auto count = [&](State* s, const ActorMap<int, State>::EntryPtr&) { (s ? ran : refused)++; };
  EXPECT_TRUE(map.post_or_create(1, count));
  EXPECT_TRUE(map.post_or_create(2, count));
  EXPECT_FALSE(map.post_or_create(3, count));
  EXPECT_EQ(refused.load(), 1);               // told at once, with no state
  EXPECT_TRUE(map.post_or_create(1, count));  // existing keys still work
  EXPECT_FALSE(map.post(3, count));           // post() never creates
  pool.join();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_EQ(refused.load(), 2);
}

}  // namespace
}  // namespace shardd::services
