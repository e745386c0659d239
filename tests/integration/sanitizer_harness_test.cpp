// Proof that the harness sees sanitizer reports written inside the server
// process. shardd is built with -DSHARDD_TEST_FAULTS=ON and started with
// SHARDD_TEST_FAULT=<fault>; the harness must turn the report into a failure
// of the running test. ctest runs this only against sanitizer builds
// (scripts/test.sh, label sanitizer_proof), with SHARDD_TEST_SANITIZER naming
// the build's sanitizers.

#include <gtest/gtest-spi.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include "it_common.h"

namespace shardd::test {
namespace {

std::string sanitizers() {
  const char* s = std::getenv("SHARDD_TEST_SANITIZER");
  return s != nullptr ? s : "";
}

// Starts a server with the fault planted, proves it served a request, and
// lets the harness stop it (SIGTERM) or find it dead.
void serve_with_fault(const char* fault) {
  ShardOptions o;
  o.env = {{"SHARDD_TEST_FAULT", fault}};
  Shard shard(o);
  shard.start();
  WsClient ws;
  ASSERT_TRUE(ws.connect(shard.ws_port())) << ws.error();
  auto pong = ws.request("sys.ping", {{"t", "x"}});
  ASSERT_TRUE(pong && pong->value("ok", false)) << "server was not serving";
  ws.close();
  // The thread faults fire on SIGUSR2 (src/test_faults.cpp); halt_on_error
  // then ends the server.
  if (std::string(fault) != "leak") {
    shard.signal(SIGUSR2);
    eventually([&] { return !shard.running(); }, Ms(15000));
  }
}

TEST(SanitizerHarness, CleanServerRecordsNoFailure) {
  ASSERT_FALSE(sanitizers().empty())
      << "run through scripts/test.sh --sanitize (SHARDD_TEST_SANITIZER)";
  Shard shard;
  shard.start();
  ASSERT_EQ(shard.stop(), 0) << "a clean SIGTERM shutdown exits 0";
  EXPECT_EQ(shard.sanitizer_reports(), "");
}

TEST(SanitizerHarness, LeakAtExitFailsTheTest) {
  if (sanitizers().find("address") == std::string::npos) {
    GTEST_FAIL() << "this test belongs to the address,undefined run";
  }
  EXPECT_NONFATAL_FAILURE(serve_with_fault("leak"), "LeakSanitizer: detected memory leaks");
}

TEST(SanitizerHarness, HeapUseAfterFreeFailsTheTest) {
  if (sanitizers().find("address") == std::string::npos) {
    GTEST_FAIL() << "this test belongs to the address,undefined run";
  }
  EXPECT_NONFATAL_FAILURE(serve_with_fault("heap-use-after-free"),
                          "AddressSanitizer: heap-use-after-free");
}

TEST(SanitizerHarness, UndefinedBehaviourFailsTheTest) {
  if (sanitizers().find("undefined") == std::string::npos) {
    GTEST_FAIL() << "this test belongs to the address,undefined run";
  }
  EXPECT_NONFATAL_FAILURE(serve_with_fault("signed-overflow"),
                          "runtime error: signed integer overflow");
}

TEST(SanitizerHarness, DataRaceFailsTheTest) {
  if (sanitizers().find("thread") == std::string::npos) {
    GTEST_FAIL() << "this test belongs to the thread run";
  }
  EXPECT_NONFATAL_FAILURE(serve_with_fault("data-race"), "ThreadSanitizer: data race");
}

}  // namespace
}  // namespace shardd::test
