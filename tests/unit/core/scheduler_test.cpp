#include "shardd/core/scheduler.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <vector>

namespace shardd {
namespace {

using namespace std::chrono_literals;

// Runs `io` until `done()` holds (or 10 s pass, under any sanitizer slowdown).
// The tests wait for what they check, never for a fixed time.
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  io.restart();
  while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(10ms);
  return done();
}

TEST(SchedulerTest, RunsJobsPeriodically) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  std::vector<std::chrono::steady_clock::time_point> runs;
  s.every("tick", 10ms, [&] {
    runs.push_back(std::chrono::steady_clock::now());
    return Status::Ok();
  });
  ASSERT_TRUE(run_until(io, [&] { return runs.size() >= 5; }));
  // A tick is armed when the previous run ends, so runs are never closer than
  // the interval (however late the timer fires on a loaded machine).
  for (size_t i = 1; i < runs.size(); ++i) EXPECT_GE(runs[i] - runs[i - 1], 10ms) << i;
  EXPECT_EQ(m.counter("shardd_scheduler_runs_total", "", {{"job", "tick"}}).value(), runs.size());
}

TEST(SchedulerTest, SkipsATickWhileThePreviousRunIsBusy) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  int started = 0;
  Scheduler::Done held;
  s.every_async("slow", 10ms, [&](Scheduler::Done done) {
    ++started;
    held = std::move(done);  // not completed until the end of the test
  });
  auto& skipped = m.counter("shardd_scheduler_skipped_total", "", {{"job", "slow"}});
  ASSERT_TRUE(run_until(io, [&] { return skipped.value() >= 3; }));
  EXPECT_EQ(started, 1);
  // Once the run completes, the next tick starts a new one.
  held(Status::Ok());
  EXPECT_TRUE(run_until(io, [&] { return started == 2; }));
}

TEST(SchedulerTest, FailuresAreCounted) {
  boost::asio::io_context io;
  metrics::Registry m;
  Scheduler s(io.get_executor(), m);
  int runs = 0;
  s.every("bad", 10ms, [&] {
    ++runs;
    return Status::Internal("boom");
  });
  auto& failures = m.counter("shardd_scheduler_failures_total", "", {{"job", "bad"}});
  ASSERT_TRUE(run_until(io, [&] { return failures.value() >= 2; }));
  EXPECT_EQ(m.counter("shardd_scheduler_runs_total", "", {{"job", "bad"}}).value(),
            static_cast<uint64_t>(runs));
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
  ASSERT_TRUE(run_until(io, [&] { return runs >= 2; })) << "the job must run before stop";
  int before = runs;
  s.stop();
  // Nothing is left to run: io.run() returns once the cancelled wait is
  // delivered, instead of running the job again every 10 ms forever.
  io.restart();
  io.run_for(2s);
  EXPECT_TRUE(io.stopped()) << "a timer is still armed after stop()";
  EXPECT_EQ(runs, before);
}

}  // namespace
}  // namespace shardd
