#include "shardd/core/scheduler.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace shardd {
namespace {

using namespace std::chrono_literals;

void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

TEST(SchedulerTest, RunsJobsPeriodically) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  int runs = 0;
  s.every("tick", 10ms, [&] {
    ++runs;
    return Status::Ok();
  });
  run_for(io, 115ms);
  EXPECT_GE(runs, 5);
  EXPECT_LE(runs, 12);
  EXPECT_NE(m.render().find("shardd_scheduler_runs_total{job=\"tick\"}"), std::string::npos);
}

TEST(SchedulerTest, SkipsATickWhileThePreviousRunIsBusy) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  int started = 0;
  Scheduler::Done held;
  s.every_async("slow", 10ms, [&](Scheduler::Done done) {
    ++started;
    held = std::move(done);  // never completes during the test
  });
  run_for(io, 60ms);
  EXPECT_EQ(started, 1);
  EXPECT_GE(m.counter("shardd_scheduler_skipped_total", "", {{"job", "slow"}}).value(), 3u);
}

TEST(SchedulerTest, FailuresAreCounted) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  s.every("bad", 10ms, [] { return Status::Internal("boom"); });
  run_for(io, 45ms);
  EXPECT_GE(m.counter("shardd_scheduler_failures_total", "", {{"job", "bad"}}).value(), 2u);
}

TEST(SchedulerTest, StopCancelsJobs) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  int runs = 0;
  s.every("t", 10ms, [&] {
    ++runs;
    return Status::Ok();
  });
  run_for(io, 25ms);
  int before = runs;
  s.stop();
  run_for(io, 50ms);
  EXPECT_EQ(runs, before);
}

}  // namespace
}  // namespace shardd
