#include "shardd/gateway/rate_limiter.h"

#include <gtest/gtest.h>

namespace shardd::gateway {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, AllowsABurstThenRefillsAtTheRate) {
  TokenBucket b;
  auto t0 = Clock::now();
  uint32_t retry = 0;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.try_take(10, 5, t0, &retry)) << i;
  EXPECT_FALSE(b.try_take(10, 5, t0, &retry));
  EXPECT_EQ(retry, 100u);  // one token per 100 ms at 10/s
  EXPECT_FALSE(b.try_take(10, 5, t0 + 50ms, &retry));
  EXPECT_EQ(retry, 50u);
  EXPECT_TRUE(b.try_take(10, 5, t0 + 100ms, &retry));
  EXPECT_FALSE(b.try_take(10, 5, t0 + 100ms, &retry));
}

TEST(TokenBucketTest, NeverStoresMoreThanTheBurst) {
  TokenBucket b;
  auto t0 = Clock::now();
  uint32_t retry = 0;
  EXPECT_TRUE(b.try_take(100, 3, t0, &retry));
  auto later = t0 + 1h;
  int taken = 0;
  while (b.try_take(100, 3, later, &retry)) ++taken;
  EXPECT_EQ(taken, 3);
}

TEST(TokenBucketTest, SustainedRateMatchesConfig) {
  TokenBucket b;
  auto t = Clock::now();
  uint32_t retry = 0;
  int ok = 0;
  for (int i = 0; i < 10000; ++i) {  // 10 s at 1000 attempts/s against 50/s
    if (b.try_take(50, 10, t, &retry)) ++ok;
    t += 1ms;
  }
  EXPECT_GE(ok, 500);
  EXPECT_LE(ok, 512);
}

TEST(StrikeCounterTest, CountsWithinTheWindowOnly) {
  StrikeCounter s;
  auto t0 = Clock::now();
  EXPECT_FALSE(s.add(t0, 10s, 3));
  EXPECT_FALSE(s.add(t0 + 1s, 10s, 3));
  EXPECT_TRUE(s.add(t0 + 2s, 10s, 3));
  StrikeCounter w;
  EXPECT_FALSE(w.add(t0, 10s, 3));
  EXPECT_FALSE(w.add(t0 + 5s, 10s, 3));
  EXPECT_FALSE(w.add(t0 + 11s, 10s, 3));  // window restarted
  EXPECT_EQ(w.count(), 1u);
}

}  // namespace
}  // namespace shardd::gateway
