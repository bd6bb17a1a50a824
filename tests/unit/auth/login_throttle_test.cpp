// Unit tests for the per-address failed-login throttle: limit, expiry, logging, reload and the memory bound.
#include "pgfunnel/auth/login_throttle.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pgfunnel::auth {
namespace {

using namespace std::chrono_literals;
using clock = login_throttle::clock;

const clock::time_point t0 = clock::time_point{} + 1h;
const throttle_limits three_per_minute{3, 60s};

TEST(LoginThrottle, RefusesAnAddressOnceItReachedTheLimit) {
  login_throttle throttle;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(throttle.check("10.0.0.5", t0 + i * 1s, three_per_minute).refused) << i;
    throttle.record_failure("10.0.0.5", t0 + i * 1s, three_per_minute);
  }
  const auto d = throttle.check("10.0.0.5", t0 + 3s, three_per_minute);
  EXPECT_TRUE(d.refused);
  EXPECT_EQ(d.retry_after, 57s);  // the window opened at the first failure
  EXPECT_FALSE(throttle.check("10.0.0.6", t0 + 3s, three_per_minute).refused) << "per address";
}

TEST(LoginThrottle, EntriesExpireWithTheirWindow) {
  login_throttle throttle;
  for (int i = 0; i < 3; ++i) throttle.record_failure("10.0.0.5", t0 + i * 1s, three_per_minute);
  EXPECT_TRUE(throttle.check("10.0.0.5", t0 + 59s, three_per_minute).refused);
  EXPECT_FALSE(throttle.check("10.0.0.5", t0 + 60s, three_per_minute).refused);
  EXPECT_EQ(throttle.tracked(), 0u) << "the expired entry is gone";
  // A new window starts at the next failure: the count starts again from zero.
  throttle.record_failure("10.0.0.5", t0 + 61s, three_per_minute);
  throttle.record_failure("10.0.0.5", t0 + 62s, three_per_minute);
  EXPECT_FALSE(throttle.check("10.0.0.5", t0 + 63s, three_per_minute).refused);
}

TEST(LoginThrottle, FailuresSpreadOverMoreThanAWindowNeverBlock) {
  login_throttle throttle;
  // Two failures per window, every window: below the limit of three.
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(throttle.check("10.0.0.5", t0 + i * 30s, three_per_minute).refused) << i;
    throttle.record_failure("10.0.0.5", t0 + i * 30s, three_per_minute);
  }
}

TEST(LoginThrottle, OnlyTheFirstRefusalOfAWindowIsLogged) {
  login_throttle throttle;
  for (int i = 0; i < 3; ++i) throttle.record_failure("10.0.0.5", t0, three_per_minute);
  EXPECT_TRUE(throttle.check("10.0.0.5", t0 + 1s, three_per_minute).log);
  for (int i = 0; i < 5; ++i) {
    const auto d = throttle.check("10.0.0.5", t0 + 2s + i * 1s, three_per_minute);
    EXPECT_TRUE(d.refused);
    EXPECT_FALSE(d.log);
  }
  // Refusals do not count as failures: the window still ends 60 s after the first failure.
  EXPECT_FALSE(throttle.check("10.0.0.5", t0 + 60s, three_per_minute).refused);
  // The next blocking window is logged again.
  for (int i = 0; i < 3; ++i) throttle.record_failure("10.0.0.5", t0 + 61s, three_per_minute);
  EXPECT_TRUE(throttle.check("10.0.0.5", t0 + 62s, three_per_minute).log);
  EXPECT_FALSE(throttle.check("10.0.0.5", t0 + 63s, three_per_minute).log);
}

TEST(LoginThrottle, ZeroTurnsItOffAndReloadedLimitsApplyAtOnce) {
  login_throttle throttle;
  const throttle_limits off{0, 60s};
  for (int i = 0; i < 100; ++i) throttle.record_failure("10.0.0.5", t0, off);
  EXPECT_FALSE(throttle.check("10.0.0.5", t0, off).refused);
  EXPECT_EQ(throttle.tracked(), 0u) << "nothing is recorded while off";
  const throttle_limits no_window{3, 0s};
  for (int i = 0; i < 100; ++i) throttle.record_failure("10.0.0.5", t0, no_window);
  EXPECT_FALSE(throttle.check("10.0.0.5", t0, no_window).refused);

  // A reload lowering the limit refuses an address already over the new one.
  for (int i = 0; i < 2; ++i) throttle.record_failure("10.0.0.5", t0, three_per_minute);
  EXPECT_FALSE(throttle.check("10.0.0.5", t0 + 1s, three_per_minute).refused);
  EXPECT_TRUE(throttle.check("10.0.0.5", t0 + 1s, throttle_limits{2, 60s}).refused);
  // ...and turning it off lets it in.
  EXPECT_FALSE(throttle.check("10.0.0.5", t0 + 1s, off).refused);
}

TEST(LoginThrottle, MemoryIsBoundedByMaxAddresses) {
  login_throttle throttle(4);
  for (int i = 0; i < 100; ++i) throttle.record_failure("10.0.0." + std::to_string(i), t0, three_per_minute);
  EXPECT_LE(throttle.tracked(), 4u);
  // Expired entries make room first.
  login_throttle sweeping(2);
  sweeping.record_failure("a", t0, three_per_minute);
  sweeping.record_failure("b", t0, three_per_minute);
  sweeping.record_failure("c", t0 + 61s, three_per_minute);
  EXPECT_EQ(sweeping.tracked(), 1u);
}

}  // namespace
}  // namespace pgfunnel::auth
