#pragma once

// Actors: service state owned by a strand of the logic pool.
//
// A service keeps its state in an Actor (one strand) or an ActorMap (one
// strand per room, channel, cell or queue). Everything that touches the state
// runs on that strand: request handlers (route()), storage completions
// (store()), results of blocking work (offload()) and posted work (post()).
// No locks; no state shared between strands except through posts.
//
// Every callback may be move-only (a gateway::Request is moved along from
// stage to stage) and the actor is kept alive until it has run, so handlers
// capture `this` and never a hand-made shared_ptr.

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "shardd/core/barrier.h"
#include "shardd/core/log.h"
#include "shardd/core/worker_pool.h"
#include "shardd/gateway/router.h"
#include "shardd/services/service.h"

namespace shardd::services {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

// A bounded pool for blocking work (password hashing, file IO): at most
// `max_pending` jobs queued or running; beyond that submit() refuses at once
// so a flood cannot queue without bound. Pending jobs are exported as the
// gauge shardd_<name>_pending.
//
// Thread-safety: submit() from any thread; join() from the owning thread.
class BlockingPool {
 public:
  BlockingPool(const std::string& name, size_t threads, int64_t max_pending,
               metrics::Registry& metrics)
      : name_(name),
        max_pending_(max_pending),
        metrics_(metrics),
        gauge_(metrics.gauge("shardd_" + name + "_pending",
                             "Blocking jobs queued or running in the " + name + " pool.")),
        pool_(name, threads, &metrics) {}

  // Runs `fn()` on the pool, then `then(Status::Ok(), result)` on `ex`.
  // `then` always runs exactly once: when max_pending jobs are already
  // pending, `fn` does not run and `then` gets UNAVAILABLE "server busy" with
  // retry_after_ms; when `fn` throws, the exception barrier reports it
  // (labelled with the op that submitted the job) and `then` gets INTERNAL.
  // Either way `then` gets a default-constructed Result.
  template <class Fn, class Then>
  void submit(boost::asio::any_io_executor ex, Fn fn, Then then) {
    using Result = std::invoke_result_t<Fn&>;
    if (pending_.fetch_add(1) >= max_pending_) {
      pending_.fetch_sub(1);
      boost::asio::post(ex, [then = std::move(then)]() mutable {
        then(Status::Unavailable("server busy, retry shortly", 1000), Result{});
      });
      return;
    }
    gauge_.set(pending_.load());
    std::string op(barrier::current_op());
    boost::asio::post(pool_, [this, op = std::move(op), ex = std::move(ex), fn = std::move(fn),
                              then = std::move(then)]() mutable {
      Result result{};
      Status st;
      {
        barrier::OpScope scope(op);
        if (!barrier::run(&metrics_, op.empty() ? name_ : op, name_ + " job",
                          [&] { result = fn(); })) {
          st = Status::Internal("internal error");
        }
      }
      gauge_.set(pending_.fetch_sub(1) - 1);
      boost::asio::post(
          ex, [then = std::move(then), st = std::move(st), result = std::move(result)]() mutable {
            then(std::move(st), std::move(result));
          });
    });
  }
  int64_t pending() const { return pending_.load(); }
  // Waits for queued work. REQUIRES: no submit() after it.
  void join() { pool_.join(); }

 private:
  const std::string name_;
  const int64_t max_pending_;
  metrics::Registry& metrics_;
  metrics::Gauge& gauge_;
  std::atomic<int64_t> pending_{0};
  WorkerPool pool_;  // last: destroyed (joined) first, while the rest is alive
};

// Answers a request whose storage work failed with the status' wire code
// (UNAVAILABLE with retry_after_ms for an outage, INTERNAL otherwise), and
// logs what is not an outage with the op and account.
inline void fail_storage(gateway::Request& req, const store::DbStatus& st, spdlog::logger& log) {
  if (st.err() != store::DbErr::kUnavailable && st.err() != store::DbErr::kRetry) {
    log.error("storage error in {} (account {}): {}", req.op(), req.account_id(), st.to_string());
  }
  req.fail(st.to_status());
}

// One row of a service's table of client ops (Actor::route_all()).
template <class Derived>
struct OpRoute {
  using Handler = void (Derived::*)(gateway::Request);
  // NOLINTNEXTLINE(google-explicit-constructor): table rows are brace lists
  OpRoute(const char* o, Handler f, args::Schema s = args::Schema(), bool auth = true)
      : op(o), fn(f), schema(std::move(s)), requires_auth(auth) {}
  const char* op;
  Handler fn;
  args::Schema schema;
  bool requires_auth;
};

// The base of a service's state owner (CRTP: `class Impl : public
// Actor<Impl>`). Create it with std::make_shared.
template <class Derived>
class Actor : public std::enable_shared_from_this<Derived> {
 public:
  explicit Actor(ServiceContext& ctx) : ctx_(ctx), strand_(boost::asio::make_strand(ctx.logic())) {}
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

  ServiceContext& ctx() const { return ctx_; }
  const Strand& strand() const { return strand_; }
  bool on_strand() const { return strand_.running_in_this_thread(); }

  // Registers client op `op`: each request runs `(this->*fn)(std::move(req))`
  // on the strand, after the gateway checked `options.args`.
  // REQUIRES: before serving.
  Status route(std::string op, void (Derived::*fn)(gateway::Request),
               gateway::RouteOptions options = {}) {
    options.executor = strand_;
    auto self = this->shared_from_this();
    return ctx_.gateway().router().add(
        std::move(op), std::move(options),
        [self, fn](gateway::Request&& req) { ((*self).*fn)(std::move(req)); });
  }

  // Registers a table of ops (route() for each). REQUIRES: before serving.
  Status route_all(const std::vector<OpRoute<Derived>>& table) {
    for (const auto& r : table) {
      gateway::RouteOptions o;
      o.args = r.schema;
      o.requires_auth = r.requires_auth;
      Status st = route(r.op, r.fn, std::move(o));
      if (!st.ok()) return st;
    }
    return Status::Ok();
  }

  // Runs `fn()` on the strand.
  template <class Fn>
  void post(Fn fn) {
    boost::asio::post(strand_,
                      [self = this->shared_from_this(), fn = std::move(fn)]() mutable { fn(); });
  }

  // Storage work without a result: `work(StoreContext&)` -> DbStatus on the
  // storage pool, then `done(DbStatus)` on the strand.
  template <class Work, class Done>
  void store(Work work, Done done) {
    ctx_.store().run_void(strand_, std::move(work), keep_alive(std::move(done)));
  }
  // Storage work with a result: `work(StoreContext&, T*)`, `done(DbStatus, T)`.
  template <class T, class Work, class Done>
  void store_value(Work work, Done done) {
    ctx_.store().template run<T>(strand_, std::move(work), keep_alive(std::move(done)));
  }
  // Blocking work on `pool`: `fn()` there, `then(Status, result)` on the
  // strand (UNAVAILABLE, and fn not run, when the pool is at its bound).
  template <class Fn, class Then>
  void offload(BlockingPool& pool, Fn fn, Then then) {
    pool.submit(strand_, std::move(fn), keep_alive(std::move(then)));
  }

 protected:
  ~Actor() = default;

  // `fn` wrapped so the actor lives until it ran.
  template <class Fn>
  auto keep_alive(Fn fn) {
    return [self = this->shared_from_this(), fn = std::move(fn)](auto&&... a) mutable {
      return fn(std::forward<decltype(a)>(a)...);
    };
  }

 private:
  ServiceContext& ctx_;
  Strand strand_;
};

}  // namespace shardd::services
