#include "shardd/core/metrics.h"

#include <gtest/gtest.h>
#include <thread>

namespace shardd::metrics {
namespace {

TEST(MetricsTest, CounterAndGaugeRender) {
  Registry r;
  Counter& c = r.counter("x_total", "Things.", {{"op", "a.b"}});
  c.inc();
  c.inc(2);
  r.gauge("y", "Level.").set(-4);
  std::string text = r.render();
  EXPECT_NE(text.find("# HELP x_total Things.\n# TYPE x_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("x_total{op=\"a.b\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE y gauge\ny -4\n"), std::string::npos) << text;
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameChild) {
  Registry r;
  Counter& a = r.counter("c_total", "h", {{"k", "v"}});
  Counter& b = r.counter("c_total", "h", {{"k", "v"}});
  Counter& other = r.counter("c_total", "h", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Registry r;
  r.counter("e_total", "h", {{"v", "a\"b\\c\nd"}}).inc();
  EXPECT_NE(r.render().find(R"(e_total{v="a\"b\\c\nd"} 1)"), std::string::npos) << r.render();
}

TEST(MetricsTest, HistogramIsCumulative) {
  Registry r;
  Histogram& h = r.histogram("lat_seconds", "h", {0.1, 1}, {{"op", "p"}});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  std::string text = r.render();
  EXPECT_NE(text.find("lat_seconds_bucket{op=\"p\",le=\"0.1\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("lat_seconds_bucket{op=\"p\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{op=\"p\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count{op=\"p\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_sum{op=\"p\"} 5.5"), std::string::npos);
}

TEST(MetricsTest, CountersAreExactUnderConcurrency) {
  Registry r;
  Counter& c = r.counter("n_total", "h");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) c.inc();
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.value(), 400000u);
}

TEST(MetricsTest, ProcessStatsAreRead) {
  ProcessStats s = read_process_stats();
  EXPECT_GT(s.rss_bytes, 0u);
  EXPECT_GT(s.open_fds, 0u);
  EXPECT_GT(s.max_fds, 0u);
  EXPECT_GT(s.start_time_seconds, 1.6e9);
  Registry r;
  add_process_collector(r);
  EXPECT_NE(r.render().find("process_resident_memory_bytes "), std::string::npos);
}

TEST(MetricsTest, BucketBoundsPrintShortest) {
  Registry r;
  r.histogram("h_seconds", "h", latency_buckets()).observe(0.001);
  std::string text = r.render();
  // 5e-05 is the first latency bucket; printed as 17 significant digits it
  // would read 5.0000000000000002e-05.
  EXPECT_NE(text.find(R"(h_seconds_bucket{le="5e-05"} 0)"), std::string::npos) << text;
  EXPECT_EQ(text.find("0000000"), std::string::npos) << text;
}

}  // namespace
}  // namespace shardd::metrics
