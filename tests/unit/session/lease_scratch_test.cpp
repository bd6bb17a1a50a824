// Unit tests of lease_scratch: reused per thread, handed out as new, large buffers not kept, scanner limits renewed.
#include "pgfunnel/session/lease_scratch.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>

#include "bytes.hpp"
#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::test {
namespace {

using session::lease_scratch;

constexpr std::size_t kRelay = 32 * 1024;
constexpr std::uint32_t kMax = 1 << 20;

// Does the client-side scanner of `s` accept a Query of `sql_size` bytes of SQL?
bool client_scan_accepts(lease_scratch& s, std::size_t sql_size) {
  const std::string q = fe::query(std::string(sql_size, 'x'));
  struct visitor_t {
    bool wants_whole(std::uint8_t) const noexcept { return false; }
    bool on_message(const session::scanned_message&) noexcept { return true; }
  } v;
  return !s.client_scan.scan(as_span(q), v).ec;
}

TEST(LeaseScratch, GivenBackScratchIsReusedOnTheSameThreadAsNew) {
  const lease_scratch* first = nullptr;
  {
    auto s = lease_scratch::take(kMax, kRelay);
    first = s.get();
    s->tracker.on_client_message('Q');
    s->in_have = 5;
    s->out_have = 7;
    s->to_server = "to server";
    s->synthetic = "synthetic";
    s->in_scratch.assign(1000, 'i');
    s->settings.on_query(session::classify_session_sql("BEGIN; SET work_mem = '7MB'", &session::is_tracked_parameter), 0);
    session::client_statements client;
    session::server_statements server;
    s->rewriter.emplace(client, server);
    EXPECT_EQ(s->tracker.owed_ready_for_query(), 1u);
    s.reset();  // back to the free list (the rewriter dropped) while the maps it refers to are alive
  }
  auto again = lease_scratch::take(kMax, kRelay);
  EXPECT_EQ(again.get(), first) << "the free list did not hand the scratch back";
  EXPECT_EQ(again->tracker.owed_ready_for_query(), 0u);
  EXPECT_TRUE(again->tracker.releasable());
  EXPECT_EQ(again->in_have, 0u);
  EXPECT_EQ(again->out_have, 0u);
  EXPECT_TRUE(again->to_server.empty());
  EXPECT_TRUE(again->synthetic.empty());
  EXPECT_TRUE(again->in_scratch.empty());
  EXPECT_GE(again->in_scratch.capacity(), 1000u) << "a small buffer's capacity is kept for the next lease";
  EXPECT_FALSE(again->rewriter.has_value());
  EXPECT_FALSE(again->settings.wants_transaction_control());
  EXPECT_TRUE(again->client_scan.at_boundary());
  EXPECT_TRUE(again->server_scan.at_boundary());
}

TEST(LeaseScratch, ABufferGrownByOneLargeMessageIsNotKept) {
  {
    auto s = lease_scratch::take(kMax, kRelay);
    s->big_in.assign(10 * kRelay, 'b');
    s->out_scratch.assign(3 * kRelay, 'o');
    s->after.assign(kRelay, 'a');
  }
  auto s = lease_scratch::take(kMax, kRelay);
  EXPECT_LE(s->big_in.capacity(), 2 * kRelay);
  EXPECT_LE(s->out_scratch.capacity(), 2 * kRelay);
  EXPECT_GE(s->after.capacity(), kRelay) << "within twice the relay buffer: kept";
  EXPECT_TRUE(s->after.empty());
}

TEST(LeaseScratch, ScannersTakeTheMessageLimitOfTheLeaseThatTakesThem) {
  { auto s = lease_scratch::take(kMax, kRelay); }  // leaves one on the free list
  auto small = lease_scratch::take(1000, kRelay);  // max_message_size lowered by a reload
  EXPECT_TRUE(client_scan_accepts(*small, 100));
  EXPECT_FALSE(client_scan_accepts(*small, 5000)) << "the old limit survived the reuse";
  small.reset();
  auto large = lease_scratch::take(kMax, kRelay);
  EXPECT_TRUE(client_scan_accepts(*large, 5000));
}

TEST(LeaseScratch, EachThreadHasItsOwnFreeList) {
  const lease_scratch* here = nullptr;
  {
    auto s = lease_scratch::take(kMax, kRelay);
    here = s.get();
  }
  const lease_scratch* there = nullptr;
  std::thread([&] {
    auto s = lease_scratch::take(kMax, kRelay);
    there = s.get();
    s.reset();  // given back to that thread's list, freed when the thread ends
  }).join();
  EXPECT_NE(here, there);
  auto s = lease_scratch::take(kMax, kRelay);
  EXPECT_EQ(s.get(), here);
}

}  // namespace
}  // namespace pgfunnel::test
