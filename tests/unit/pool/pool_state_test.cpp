// Unit tests of the pool's bookkeeping: LIFO idle, FIFO waiters, connection budget, and a randomized model check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "pgfunnel/pool/pool_state.hpp"

namespace pgfunnel::test {
namespace {

using pool::pool_limits;

struct server {
  int id;
};
struct waiter {
  int id;
};
using state = pool::pool_state<server, waiter>;

// Servers and waiters with stable addresses.
struct objects {
  std::vector<std::unique_ptr<server>> servers;
  std::vector<std::unique_ptr<waiter>> waiters;
  server* s() {
    servers.push_back(std::make_unique<server>(server{static_cast<int>(servers.size())}));
    return servers.back().get();
  }
  waiter* w() {
    waiters.push_back(std::make_unique<waiter>(waiter{static_cast<int>(waiters.size())}));
    return waiters.back().get();
  }
};

// A pool with `n` idle servers, opened through the normal path (waiters, connects, releases).
void fill_idle(state& p, objects& o, std::vector<server*>& out, unsigned n) {
  std::vector<waiter*> ws;
  for (unsigned i = 0; i < n; ++i) {
    ws.push_back(o.w());
    ASSERT_EQ(p.acquire(ws.back()), nullptr);
  }
  ASSERT_EQ(p.connects_to_start(), n);
  std::vector<server*> ss;
  for (unsigned i = 0; i < n; ++i) {
    ss.push_back(o.s());
    ASSERT_EQ(p.connected(ss.back()), ws[i]);
  }
  for (auto* s : ss) ASSERT_EQ(p.release(s), nullptr);
  out = ss;
}

TEST(PoolState, AcquireFromIdleIsLifo) {
  state p({.pool_size = 5, .min_pool_size = 0});
  objects o;
  std::vector<server*> ss;
  fill_idle(p, o, ss, 3);  // released in order 0, 1, 2: 2 is the most recently used
  ASSERT_EQ(p.idle_count(), 3u);
  EXPECT_EQ(p.idle().back(), ss[2]);
  EXPECT_EQ(p.idle().front(), ss[0]);
  EXPECT_EQ(p.acquire(o.w()), ss[2]);
  EXPECT_EQ(p.acquire(o.w()), ss[1]);
  EXPECT_EQ(p.active_count(), 2u);
  EXPECT_EQ(p.release(ss[2]), nullptr);
  EXPECT_EQ(p.acquire(o.w()), ss[2]);  // the one just returned, not the older ss[0]
  EXPECT_EQ(p.acquire(o.w()), ss[0]);
  EXPECT_EQ(p.idle_count(), 0u);
  EXPECT_EQ(p.active_count(), 3u);
  EXPECT_EQ(p.waiting_count(), 0u);
}

TEST(PoolState, WaitersAreFifoAndReleaseHandsToTheOldest) {
  state p({.pool_size = 2, .min_pool_size = 0});
  objects o;
  auto* w1 = o.w();
  auto* w2 = o.w();
  auto* w3 = o.w();
  auto* w4 = o.w();
  EXPECT_EQ(p.acquire(w1), nullptr);
  EXPECT_EQ(p.acquire(w2), nullptr);
  EXPECT_EQ(p.connects_to_start(), 2u);
  auto* s1 = o.s();
  auto* s2 = o.s();
  EXPECT_EQ(p.connected(s1), w1);
  EXPECT_EQ(p.connected(s2), w2);
  EXPECT_EQ(p.acquire(w3), nullptr);
  EXPECT_EQ(p.acquire(w4), nullptr);
  EXPECT_EQ(p.connects_to_start(), 0u);  // full
  EXPECT_EQ(p.waiting_count(), 2u);
  EXPECT_EQ(p.release(s2), w3);
  EXPECT_EQ(p.release(s1), w4);
  EXPECT_EQ(p.waiting_count(), 0u);
  EXPECT_EQ(p.active_count(), 2u);
  EXPECT_EQ(p.idle_count(), 0u);
  EXPECT_EQ(p.release(s1), nullptr);
  EXPECT_EQ(p.idle_count(), 1u);
}

TEST(PoolState, ConnectedHandsToTheOldestWaiter) {
  state p({.pool_size = 3, .min_pool_size = 0});
  objects o;
  auto* w1 = o.w();
  auto* w2 = o.w();
  auto* w3 = o.w();
  p.acquire(w1);
  p.acquire(w2);
  p.acquire(w3);
  EXPECT_EQ(p.connects_to_start(), 3u);
  EXPECT_EQ(p.connecting_count(), 3u);
  EXPECT_EQ(p.connected(o.s()), w1);
  EXPECT_EQ(p.connected(o.s()), w2);
  EXPECT_EQ(p.connected(o.s()), w3);
  EXPECT_EQ(p.connecting_count(), 0u);
  EXPECT_EQ(p.active_count(), 3u);
}

TEST(PoolState, ConnectedWithoutWaitersParksIdle) {
  state p({.pool_size = 3, .min_pool_size = 2});
  objects o;
  EXPECT_EQ(p.connects_to_start(), 2u);  // min_pool_size alone
  auto* s1 = o.s();
  EXPECT_EQ(p.connected(s1), nullptr);
  EXPECT_EQ(p.idle_count(), 1u);
  EXPECT_EQ(p.connecting_count(), 1u);
  auto* w = o.w();
  EXPECT_EQ(p.acquire(w), s1);
  EXPECT_EQ(p.waiting_count(), 0u);
}

TEST(PoolState, ConnectsToStartNeverExceedsPoolSize) {
  state p({.pool_size = 3, .min_pool_size = 0});
  objects o;
  for (int i = 0; i < 10; ++i) p.acquire(o.w());
  EXPECT_EQ(p.connects_to_start(), 3u);
  EXPECT_EQ(p.connects_to_start(), 0u);  // already counted as connecting
  EXPECT_EQ(p.total(), 3u);
  auto* s1 = o.s();
  p.connected(s1);  // to the first waiter: active 1, connecting 2
  EXPECT_EQ(p.connects_to_start(), 0u);
  p.release_closed();  // active 0: one slot free
  EXPECT_EQ(p.connects_to_start(), 1u);
  EXPECT_EQ(p.total(), 3u);
}

TEST(PoolState, ConnectsToStartCountsIdleAndActive) {
  state p({.pool_size = 4, .min_pool_size = 0});
  objects o;
  std::vector<server*> ss;
  fill_idle(p, o, ss, 3);
  p.acquire(o.w());
  p.acquire(o.w());
  p.acquire(o.w());  // all three active now
  EXPECT_EQ(p.total(), 3u);
  for (int i = 0; i < 5; ++i) p.acquire(o.w());
  EXPECT_EQ(p.waiting_count(), 5u);
  EXPECT_EQ(p.connects_to_start(), 1u);  // 4 - 3
}

TEST(PoolState, ConnectsToStartCoversWaitersBeyondThoseConnecting) {
  state p({.pool_size = 10, .min_pool_size = 0});
  objects o;
  p.acquire(o.w());
  EXPECT_EQ(p.connects_to_start(), 1u);
  p.acquire(o.w());
  p.acquire(o.w());
  EXPECT_EQ(p.connects_to_start(), 2u);  // three waiters, one connection under way
  EXPECT_EQ(p.connects_to_start(), 0u);
  EXPECT_EQ(p.connecting_count(), 3u);
  p.connect_failed();
  EXPECT_EQ(p.connecting_count(), 2u);
  EXPECT_EQ(p.connects_to_start(), 1u);  // the failed attempt's waiter is uncovered again
}

TEST(PoolState, ConnectsToStartHonoursMinPoolSize) {
  state p({.pool_size = 5, .min_pool_size = 3});
  objects o;
  EXPECT_EQ(p.connects_to_start(), 3u);
  EXPECT_EQ(p.connects_to_start(), 0u);
  p.connected(o.s());
  p.connected(o.s());
  p.connected(o.s());
  EXPECT_EQ(p.idle_count(), 3u);
  EXPECT_EQ(p.connects_to_start(), 0u);
  // Closing an idle one brings the pool below the minimum.
  ASSERT_TRUE(p.remove_idle(p.idle().front()));
  EXPECT_EQ(p.connects_to_start(), 1u);
  // Waiters and minimum together: the larger need, capped by the pool size.
  for (int i = 0; i < 6; ++i) p.acquire(o.w());  // 2 take idle servers, 4 wait
  EXPECT_EQ(p.waiting_count(), 4u);
  // 4 waiters - 1 connecting = 3 wanted; room is only 5 - (2 active + 1 connecting) = 2.
  EXPECT_EQ(p.connects_to_start(), 2u);
  EXPECT_EQ(p.total(), 5u);
}

TEST(PoolState, MinPoolSizeAbovePoolSizeIsCapped) {
  state p({.pool_size = 2, .min_pool_size = 5});
  EXPECT_EQ(p.connects_to_start(), 2u);
  EXPECT_EQ(p.total(), 2u);
}

TEST(PoolState, ReserveConnect) {
  state p({.pool_size = 2, .min_pool_size = 0});
  objects o;
  EXPECT_TRUE(p.reserve_connect());
  EXPECT_EQ(p.connecting_count(), 1u);
  EXPECT_FALSE(p.reserve_connect());  // one already under way
  auto* s1 = o.s();
  EXPECT_EQ(p.connected(s1), nullptr);
  EXPECT_EQ(p.idle_count(), 1u);
  EXPECT_TRUE(p.reserve_connect());
  p.connected(o.s());
  EXPECT_EQ(p.total(), 2u);
  EXPECT_FALSE(p.reserve_connect());  // full
  ASSERT_TRUE(p.remove_idle(s1));
  EXPECT_TRUE(p.reserve_connect());
  p.connect_failed();
  EXPECT_EQ(p.connecting_count(), 0u);
}

TEST(PoolState, ReservedConnectionCoversAWaiter) {
  state p({.pool_size = 3, .min_pool_size = 0});
  objects o;
  ASSERT_TRUE(p.reserve_connect());
  auto* w = o.w();
  p.acquire(w);
  EXPECT_EQ(p.connects_to_start(), 0u);  // the reserved connection will serve it
  EXPECT_EQ(p.connected(o.s()), w);
}

TEST(PoolState, CancelWait) {
  state p({.pool_size = 1, .min_pool_size = 0});
  objects o;
  auto* w1 = o.w();
  auto* w2 = o.w();
  auto* w3 = o.w();
  p.acquire(w1);
  p.acquire(w2);
  p.acquire(w3);
  EXPECT_TRUE(p.cancel_wait(w2));
  EXPECT_FALSE(p.cancel_wait(w2));
  EXPECT_EQ(p.waiting_count(), 2u);
  EXPECT_EQ(p.connects_to_start(), 1u);
  auto* s = o.s();
  EXPECT_EQ(p.connected(s), w1);
  EXPECT_FALSE(p.cancel_wait(w1));  // already granted: the driver must release s
  EXPECT_EQ(p.release(s), w3);      // w2 was skipped
  EXPECT_EQ(p.waiting_count(), 0u);
  EXPECT_FALSE(p.cancel_wait(o.w()));
}

TEST(PoolState, RemoveIdle) {
  state p({.pool_size = 4, .min_pool_size = 0});
  objects o;
  std::vector<server*> ss;
  fill_idle(p, o, ss, 3);
  EXPECT_TRUE(p.remove_idle(ss[1]));
  EXPECT_FALSE(p.remove_idle(ss[1]));
  EXPECT_EQ(p.idle_count(), 2u);
  EXPECT_EQ(p.total(), 2u);
  EXPECT_EQ(p.idle()[0], ss[0]);
  EXPECT_EQ(p.idle()[1], ss[2]);
  auto* leased = p.acquire(o.w());
  EXPECT_EQ(leased, ss[2]);
  EXPECT_FALSE(p.remove_idle(leased));  // leased, not idle
  EXPECT_EQ(p.active_count(), 1u);
}

TEST(PoolState, TakeWaiters) {
  state p({.pool_size = 1, .min_pool_size = 0});
  objects o;
  auto* w1 = o.w();
  auto* w2 = o.w();
  p.acquire(w1);
  p.acquire(w2);
  const auto taken = p.take_waiters();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0], w1);
  EXPECT_EQ(taken[1], w2);
  EXPECT_EQ(p.waiting_count(), 0u);
  EXPECT_TRUE(p.take_waiters().empty());
  EXPECT_EQ(p.connects_to_start(), 0u);
}

TEST(PoolState, ReleaseClosedAndConnectFailedCounters) {
  state p({.pool_size = 3, .min_pool_size = 0});
  objects o;
  p.acquire(o.w());
  p.acquire(o.w());
  EXPECT_EQ(p.connects_to_start(), 2u);
  p.connect_failed();
  EXPECT_EQ(p.connecting_count(), 1u);
  EXPECT_EQ(p.total(), 1u);
  auto* s = o.s();
  EXPECT_NE(p.connected(s), nullptr);
  EXPECT_EQ(p.active_count(), 1u);
  EXPECT_EQ(p.connecting_count(), 0u);
  p.release_closed();
  EXPECT_EQ(p.active_count(), 0u);
  EXPECT_EQ(p.total(), 0u);
  EXPECT_EQ(p.idle_count(), 0u);
  EXPECT_EQ(p.waiting_count(), 1u);
  EXPECT_EQ(p.connects_to_start(), 1u);
}

TEST(PoolState, SetLimits) {
  state p({.pool_size = 1, .min_pool_size = 0});
  objects o;
  for (int i = 0; i < 3; ++i) p.acquire(o.w());
  EXPECT_EQ(p.connects_to_start(), 1u);
  p.set_limits({.pool_size = 3, .min_pool_size = 0});
  EXPECT_EQ(p.limits().pool_size, 3u);
  EXPECT_EQ(p.connects_to_start(), 2u);
}

// Thousands of random operations, each checked against a plain reference model of the pool.
TEST(PoolState, RandomizedAgainstModel) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const unsigned pool_size = 1 + rng() % 6;
    const unsigned min_pool_size = rng() % 8;
    state p({.pool_size = pool_size, .min_pool_size = min_pool_size});
    objects o;

    // The model.
    std::vector<server*> idle;     // back = most recent
    std::deque<waiter*> waiting;   // front = oldest
    std::set<server*> leased;      // servers held by clients
    unsigned connecting = 0;

    auto pick = [&](auto& container) { return container.begin() + static_cast<long>(rng() % container.size()); };
    auto hand = [&](server* s, waiter* got) {
      if (!waiting.empty()) {
        ASSERT_EQ(got, waiting.front());
        waiting.pop_front();
        leased.insert(s);
      } else {
        ASSERT_EQ(got, nullptr);
        idle.push_back(s);
      }
    };
    auto start_connects = [&] {
      const unsigned total = static_cast<unsigned>(idle.size() + leased.size()) + connecting;
      const unsigned room = pool_size > total ? pool_size - total : 0;
      const unsigned for_waiters =
          waiting.size() > connecting ? static_cast<unsigned>(waiting.size()) - connecting : 0;
      const unsigned for_min = min_pool_size > total ? min_pool_size - total : 0;
      const unsigned want = std::min(room, std::max(for_waiters, for_min));
      ASSERT_EQ(p.connects_to_start(), want);
      connecting += want;
    };

    for (int step = 0; step < 5000; ++step) {
      switch (rng() % 10) {
        case 0:
        case 1: {  // a client asks for a server
          waiter* w = o.w();
          server* got = p.acquire(w);
          if (!idle.empty()) {
            ASSERT_EQ(got, idle.back());
            idle.pop_back();
            leased.insert(got);
          } else {
            ASSERT_EQ(got, nullptr);
            waiting.push_back(w);
          }
          start_connects();
          break;
        }
        case 2: {  // a connection attempt finishes
          if (connecting == 0) break;
          --connecting;
          if (rng() % 4 == 0) {
            p.connect_failed();
            start_connects();
          } else {
            server* s = o.s();
            hand(s, p.connected(s));
          }
          break;
        }
        case 3:
        case 4: {  // a leased server comes back
          if (leased.empty()) break;
          auto it = std::next(leased.begin(), static_cast<long>(rng() % leased.size()));
          server* s = *it;
          leased.erase(it);
          hand(s, p.release(s));
          break;
        }
        case 5: {  // a leased server is closed
          if (leased.empty()) break;
          leased.erase(std::next(leased.begin(), static_cast<long>(rng() % leased.size())));
          p.release_closed();
          start_connects();
          break;
        }
        case 6: {  // a waiter gives up, or one that is not waiting (any more)
          if (!waiting.empty() && rng() % 3 != 0) {
            auto it = pick(waiting);
            waiter* w = *it;
            waiting.erase(it);
            ASSERT_TRUE(p.cancel_wait(w));
          } else {
            ASSERT_FALSE(p.cancel_wait(o.w()));
          }
          break;
        }
        case 7: {  // an idle server times out
          if (idle.empty()) {
            ASSERT_FALSE(p.remove_idle(o.s()));
            break;
          }
          auto it = pick(idle);
          server* s = *it;
          idle.erase(it);
          ASSERT_TRUE(p.remove_idle(s));
          start_connects();
          break;
        }
        case 8: {  // a reserved connect
          const unsigned total = static_cast<unsigned>(idle.size() + leased.size()) + connecting;
          const bool expect = connecting == 0 && total < pool_size;
          ASSERT_EQ(p.reserve_connect(), expect);
          if (expect) ++connecting;
          break;
        }
        case 9: {  // upstream unreachable: every waiter fails (rarely)
          if (rng() % 20 != 0) {
            start_connects();
            break;
          }
          const auto taken = p.take_waiters();
          ASSERT_EQ(taken.size(), waiting.size());
          ASSERT_TRUE(std::equal(taken.begin(), taken.end(), waiting.begin()));
          waiting.clear();
          break;
        }
      }
      ASSERT_LE(p.total(), pool_size) << "step " << step;
      ASSERT_FALSE(p.idle_count() > 0 && p.waiting_count() > 0) << "step " << step;
      ASSERT_EQ(p.idle_count(), idle.size());
      ASSERT_EQ(p.active_count(), leased.size());
      ASSERT_EQ(p.connecting_count(), connecting);
      ASSERT_EQ(p.waiting_count(), waiting.size());
      ASSERT_TRUE(std::equal(p.idle().begin(), p.idle().end(), idle.begin(), idle.end()));
    }
  }
}

}  // namespace
}  // namespace pgfunnel::test
