// Unit tests for the exhaustion-warning rate limiter and the connection-churn detector.
#include "pgfunnel/log/rate_limits.hpp"

#include <gtest/gtest.h>

namespace pgfunnel::log {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, OneLinePerIntervalCountingWhatItFolded) {
  rate_limiter limit(10s);
  const auto t0 = steady::time_point{} + 1h;
  EXPECT_EQ(limit.allow(t0), 0u);
  EXPECT_FALSE(limit.allow(t0 + 1s));
  EXPECT_FALSE(limit.allow(t0 + 9s));
  EXPECT_EQ(limit.allow(t0 + 10s), 2u);  // two folded into this line
  EXPECT_FALSE(limit.allow(t0 + 11s));
}

TEST(ChurnDetector, WarnsOncePerQuietPeriodAboveTheRate) {
  churn_detector churn(2);  // more than 20 connections in 10 s
  const auto t0 = steady::time_point{} + 1h;
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(churn.on_connect("app", t0 + i * 100ms));
  EXPECT_EQ(churn.on_connect("app", t0 + 2s), 21u);
  EXPECT_FALSE(churn.on_connect("app", t0 + 3s)) << "warned already";
  EXPECT_FALSE(churn.on_connect("other", t0 + 3s)) << "counted per application_name";
  // The window slides: slow connections never warn.
  churn_detector slow(2);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(slow.on_connect("app", t0 + i * 1s));
  churn_detector off(0);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.on_connect("app", t0));
}

}  // namespace
}  // namespace pgfunnel::log
