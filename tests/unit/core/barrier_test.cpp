#include "shardd/core/barrier.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <future>
#include <stdexcept>

#include "shardd/core/io_pool.h"
#include "shardd/core/worker_pool.h"

namespace shardd {
namespace {

uint64_t internal_errors(metrics::Registry& m, const std::string& op) {
  return m.counter("shardd_internal_errors_total", "", {{"op", op}}).value();
}

TEST(BarrierTest, RunReportsAndSwallows) {
  metrics::Registry m;
  EXPECT_TRUE(barrier::run(&m, "x.op", "test", [] {}));
  EXPECT_FALSE(barrier::run(&m, "x.op", "test", [] { throw std::runtime_error("boom"); }));
  EXPECT_FALSE(barrier::run(&m, "x.op", "test", [] { throw 42; }));
  EXPECT_EQ(internal_errors(m, "x.op"), 2u);
  EXPECT_NE(m.render().find(R"(shardd_internal_errors_total{op="x.op"} 2)"), std::string::npos);
}

TEST(BarrierTest, OpScopeNests) {
  EXPECT_EQ(barrier::current_op(), "");
  {
    barrier::OpScope a("a.op");
    EXPECT_EQ(barrier::current_op(), "a.op");
    {
      barrier::OpScope b("b.op");
      EXPECT_EQ(barrier::current_op(), "b.op");
    }
    EXPECT_EQ(barrier::current_op(), "a.op");
  }
  EXPECT_EQ(barrier::current_op(), "");
}

// A handler that throws on a pool thread is reported under the op that was
// running and the thread goes on with the next handler.
TEST(BarrierTest, WorkerPoolThreadsSurviveAThrowingHandler) {
  metrics::Registry m;
  WorkerPool pool("test", 1, &m);
  boost::asio::post(pool, [] {
    barrier::OpScope scope("svc.crash");
    throw std::logic_error("bug");
  });
  std::promise<int> after;
  boost::asio::post(pool, [&after] { after.set_value(7); });
  auto f = after.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(f.get(), 7);
  EXPECT_EQ(internal_errors(m, "svc.crash"), 1u);
}

TEST(BarrierTest, IoPoolThreadsSurviveAThrowingHandler) {
  metrics::Registry m;
  IoPool io(1, "io", &m);
  io.start();
  boost::asio::post(io.context(0), [] { throw std::runtime_error("io bug"); });
  std::promise<void> after;
  boost::asio::post(io.context(0), [&after] { after.set_value(); });
  ASSERT_EQ(after.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(internal_errors(m, "io"), 1u);
  io.stop();
  io.join();
}

}  // namespace
}  // namespace shardd
