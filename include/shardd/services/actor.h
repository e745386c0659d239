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
      : pool_(name, threads, &metrics),
        max_pending_(max_pending),
        pending_(metrics.gauge("shardd_" + name + "_pending",
                               "Blocking jobs queued or running in the " + name + " pool.")) {}

  // Runs `fn()` on the pool, then `then(Status::Ok(), result)` on `ex`.
  // When max_pending jobs are already pending, `fn` does not run and
  // `then(UNAVAILABLE "server busy" with retry_after_ms, Result{})` is posted
  // to `ex` instead: `then` always runs exactly once.
  template <class Fn, class Then>
  void submit(boost::asio::any_io_executor ex, Fn fn, Then then) {
    using Result = std::invoke_result_t<Fn&>;
    if (pending_.value() >= max_pending_) {
      boost::asio::post(ex, [then = std::move(then)]() mutable {
        then(Status::Unavailable("server busy, retry shortly", 1000), Result{});
      });
      return;
    }
    pending_.add(1);
    boost::asio::post(pool_, [this, ex = std::move(ex), fn = std::move(fn),
                              then = std::move(then)]() mutable {
      Result result = fn();
      pending_.add(-1);
      boost::asio::post(ex, [then = std::move(then), result = std::move(result)]() mutable {
        then(Status::Ok(), std::move(result));
      });
    });
  }
  int64_t pending() const { return pending_.value(); }
  // Waits for queued work. REQUIRES: no submit() after it.
  void join() { pool_.join(); }

 private:
  WorkerPool pool_;
  const int64_t max_pending_;
  metrics::Gauge& pending_;
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

  // Runs `fn()` on the strand.
  template <class Fn>
  void post(Fn fn) {
    boost::asio::post(strand_, [self = this->shared_from_this(), fn = std::move(fn)]() mutable {
      fn();
    });
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
