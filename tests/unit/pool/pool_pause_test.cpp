// Unit tests of PAUSE/RESUME in the pool's bookkeeping: nothing handed out while paused, the queue served in order
// after.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "pgfunnel/pool/pool_state.hpp"

namespace pgfunnel::test {
namespace {

struct pserver {
  int id;
};
struct pwaiter {
  int id;
};
using state = pool::pool_state<pserver, pwaiter>;

TEST(PoolPause, NothingIsHandedOutWhilePaused) {
  state st(pool::pool_limits{2, 0});
  pserver a{1}, b{2};
  pwaiter w1{1}, w2{2}, w3{3};
  EXPECT_EQ(st.connects_to_start(), 0u);
  EXPECT_EQ(st.acquire(&w1), nullptr);  // queued: one connection to open
  EXPECT_EQ(st.connects_to_start(), 1u);
  EXPECT_EQ(st.connected(&a), &w1);  // a → w1, active
  EXPECT_EQ(st.acquire(&w2), nullptr);
  EXPECT_EQ(st.connects_to_start(), 1u);

  st.pause();
  EXPECT_TRUE(st.paused());
  EXPECT_EQ(st.connected(&b), nullptr);  // parks idle instead of going to w2
  EXPECT_EQ(st.idle_count(), 1u);
  EXPECT_EQ(st.take_idle(), nullptr);
  EXPECT_EQ(st.acquire(&w3), nullptr);  // queues behind w2 although b is idle
  EXPECT_EQ(st.waiting_count(), 2u);
  EXPECT_EQ(st.release(&a), nullptr);  // the active one comes back idle
  EXPECT_EQ(st.active_count(), 0u);
  EXPECT_EQ(st.connects_to_start(), 0u);  // no connections for the queue while paused

  const auto grants = st.resume();
  EXPECT_FALSE(st.paused());
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(grants[0].first, &w2);  // oldest waiter first, most recently used server first
  EXPECT_EQ(grants[0].second, &a);
  EXPECT_EQ(grants[1].first, &w3);
  EXPECT_EQ(grants[1].second, &b);
  EXPECT_EQ(st.active_count(), 2u);
  EXPECT_EQ(st.idle_count(), 0u);
  EXPECT_EQ(st.waiting_count(), 0u);
}

TEST(PoolPause, ResumeOpensConnectionsForTheRestOfTheQueue) {
  state st(pool::pool_limits{3, 0});
  pwaiter w1{1}, w2{2};
  st.pause();
  EXPECT_EQ(st.acquire(&w1), nullptr);
  EXPECT_EQ(st.acquire(&w2), nullptr);
  EXPECT_EQ(st.connects_to_start(), 0u);
  EXPECT_TRUE(st.resume().empty());
  EXPECT_EQ(st.connects_to_start(), 2u);
}

TEST(PoolPause, MinPoolSizeStillHoldsWhilePaused) {
  state st(pool::pool_limits{4, 2});
  st.pause();
  EXPECT_EQ(st.connects_to_start(), 2u);
}

}  // namespace
}  // namespace pgfunnel::test
