#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shardd/core/metrics.h"
#include "shardd/core/status.h"

namespace shardd {

// The one place periodic work is scheduled (Redis' serverCron idea): each job
// has a name and an interval; a job that is still running when its next tick
// comes is skipped (counted and logged), a job that fails is logged and counted.
// Jobs start on the scheduler's executor; an async job may complete from any
// thread by calling `done` exactly once.
//
// Thread-safety: every method must be called on the scheduler's executor,
// except the constructor.
class Scheduler {
 public:
  using Done = std::function<void(Status)>;
  using AsyncJob = std::function<void(Done)>;
  using SyncJob = std::function<Status()>;

  Scheduler(boost::asio::any_io_executor executor, metrics::Registry& metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // First run happens one interval from now.
  void every(std::string name, std::chrono::milliseconds interval, SyncJob job);
  void every_async(std::string name, std::chrono::milliseconds interval, AsyncJob job);
  // Cancels every job; running async jobs finish but are not rescheduled.
  void stop();

 private:
  struct Job;
  void arm(const std::shared_ptr<Job>& job);
  void run(const std::shared_ptr<Job>& job);

  boost::asio::any_io_executor executor_;
  metrics::Registry& metrics_;
  std::vector<std::shared_ptr<Job>> jobs_;
  bool stopped_ = false;
};

}  // namespace shardd
