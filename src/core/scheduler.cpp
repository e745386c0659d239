#include "shardd/core/scheduler.h"

#include <boost/asio/post.hpp>

#include "shardd/core/log.h"

namespace shardd {

struct Scheduler::Job {
  Job(boost::asio::any_io_executor ex, std::string n, std::chrono::milliseconds i, AsyncJob f)
      : name(std::move(n)), interval(i), fn(std::move(f)), timer(ex) {}
  std::string name;
  std::chrono::milliseconds interval;
  AsyncJob fn;
  boost::asio::steady_timer timer;
  bool running = false;  // guarded by the scheduler's executor
  bool cancelled = false;
  metrics::Counter* runs = nullptr;
  metrics::Counter* failures = nullptr;
  metrics::Counter* skipped = nullptr;
  metrics::Histogram* duration = nullptr;
};

Scheduler::Scheduler(boost::asio::any_io_executor executor, metrics::Registry& metrics)
    : executor_(std::move(executor)), metrics_(metrics) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::every(std::string name, std::chrono::milliseconds interval, SyncJob job) {
  every_async(std::move(name), interval, [job = std::move(job)](Done done) { done(job()); });
}

void Scheduler::every_async(std::string name, std::chrono::milliseconds interval, AsyncJob fn) {
  auto job = std::make_shared<Job>(executor_, std::move(name), interval, std::move(fn));
  metrics::Labels l = {{"job", job->name}};
  job->runs = &metrics_.counter("shardd_scheduler_runs_total", "Scheduled job runs.", l);
  job->failures =
      &metrics_.counter("shardd_scheduler_failures_total", "Scheduled job runs that failed.", l);
  job->skipped = &metrics_.counter("shardd_scheduler_skipped_total",
                                   "Job ticks skipped because the previous run was busy.", l);
  job->duration = &metrics_.histogram("shardd_scheduler_job_seconds", "Scheduled job run time.",
                                      metrics::latency_buckets(), l);
  jobs_.push_back(job);
  arm(job);
}

void Scheduler::stop() {
  stopped_ = true;
  for (auto& j : jobs_) {
    j->cancelled = true;
    j->timer.cancel();
  }
  jobs_.clear();
}

void Scheduler::arm(const std::shared_ptr<Job>& job) {
  job->timer.expires_after(job->interval);
  job->timer.async_wait([this, job](boost::system::error_code ec) {
    if (ec || job->cancelled) return;
    run(job);
    arm(job);
  });
}

void Scheduler::run(const std::shared_ptr<Job>& job) {
  if (job->running) {
    job->skipped->inc();
    log::get("core").warn("scheduler: job {} still running, tick skipped", job->name);
    return;
  }
  job->running = true;
  job->runs->inc();
  auto start = std::chrono::steady_clock::now();
  auto ex = executor_;
  job->fn([job, start, ex](Status st) {
    boost::asio::post(ex, [job, start, st = std::move(st)] {
      job->running = false;
      job->duration->observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!st.ok()) {
        job->failures->inc();
        log::get("core").error("scheduler: job {} failed: {}", job->name, st.to_string());
      }
    });
  });
}

}  // namespace shardd
