// Unit tests for admin console results: wire encoding, PgBouncer 1.18's column lists and types, averages.
#include <gtest/gtest.h>

#include <chrono>

#include "bytes.hpp"
#include "pgfunnel/admin/commands.hpp"
#include "pgfunnel/protocol/frame.hpp"

namespace pgfunnel::admin {
namespace {

using namespace std::chrono_literals;

std::int16_t i16(const std::uint8_t* p) { return static_cast<std::int16_t>((p[0] << 8) | p[1]); }
std::int32_t i32(const std::uint8_t* p) {
  return static_cast<std::int32_t>((std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
                                   (std::uint32_t(p[2]) << 8) | p[3]);
}

// Splits backend bytes into (tag, body) pairs with the project's frame reader.
std::vector<std::pair<char, std::string>> messages(const std::string& bytes) {
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, 1 << 20);
  std::vector<std::pair<char, std::string>> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const auto r =
        reader.next(protocol::byte_span(reinterpret_cast<const std::uint8_t*>(bytes.data()) + pos, bytes.size() - pos));
    EXPECT_EQ(r.status, protocol::frame_status::complete);
    if (r.status != protocol::frame_status::complete) break;
    out.emplace_back(static_cast<char>(r.msg.tag),
                     std::string(reinterpret_cast<const char*>(r.msg.body.data()), r.msg.body.size()));
    pos += r.msg.size;
  }
  return out;
}

TEST(AdminResults, EncodesRowDescriptionDataRowsAndCommandComplete) {
  constexpr column cols[] = {{"name", column_type::text}, {"n", column_type::int4}, {"big", column_type::numeric}};
  result_set r(cols);
  r.row().text("a").number(std::int32_t{-5}).number(std::uint64_t{18446744073709551615ull});
  r.row().null().number(std::uint32_t{7});  // short row: padded with NULL
  std::string out;
  r.encode(out);
  const auto m = messages(out);
  ASSERT_EQ(m.size(), 4u);

  ASSERT_EQ(m[0].first, 'T');
  const auto* t = reinterpret_cast<const std::uint8_t*>(m[0].second.data());
  EXPECT_EQ(i16(t), 3);
  std::size_t pos = 2;
  const std::pair<std::string, std::pair<int, int>> expected[] = {
      {"name", {25, -1}}, {"n", {23, 4}}, {"big", {1700, -1}}};
  for (const auto& [name, type] : expected) {
    const std::string got(m[0].second.c_str() + pos);
    EXPECT_EQ(got, name);
    pos += got.size() + 1;
    EXPECT_EQ(i32(t + pos), 0);      // table oid
    EXPECT_EQ(i16(t + pos + 4), 0);  // column number
    EXPECT_EQ(i32(t + pos + 6), type.first);
    EXPECT_EQ(i16(t + pos + 10), type.second);
    EXPECT_EQ(i32(t + pos + 12), -1);  // typmod
    EXPECT_EQ(i16(t + pos + 16), 0);   // text format
    pos += 18;
  }
  EXPECT_EQ(pos, m[0].second.size());

  ASSERT_EQ(m[1].first, 'D');
  const auto* d = reinterpret_cast<const std::uint8_t*>(m[1].second.data());
  EXPECT_EQ(i16(d), 3);
  EXPECT_EQ(i32(d + 2), 1);
  EXPECT_EQ(m[1].second.substr(6, 1), "a");
  EXPECT_EQ(i32(d + 7), 2);
  EXPECT_EQ(m[1].second.substr(11, 2), "-5");
  EXPECT_EQ(i32(d + 13), 20);
  EXPECT_EQ(m[1].second.substr(17), "18446744073709551615");

  const auto* d2 = reinterpret_cast<const std::uint8_t*>(m[2].second.data());
  EXPECT_EQ(i16(d2), 3);
  EXPECT_EQ(i32(d2 + 2), -1);
  EXPECT_EQ(i32(d2 + 6), 1);
  EXPECT_EQ(i32(d2 + 11), -1);

  EXPECT_EQ(m[3], (std::pair<char, std::string>{'C', std::string("SHOW\0", 5)}));
}

TEST(AdminResults, NoRowsStillDescribesColumns) {
  result_set r(connections_columns());
  std::string out;
  r.encode(out, "SHOW");
  const auto m = messages(out);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].first, 'T');
  EXPECT_EQ(m[1].first, 'C');
}

std::vector<std::string> names(std::span<const column> cols, std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n && i < cols.size(); ++i) out.emplace_back(cols[i].name);
  return out;
}

// The integration test checks these against a running PgBouncer 1.18; these keep them from drifting
// where that binary is missing.
TEST(AdminResults, PgBouncer118ColumnsComeFirst) {
  EXPECT_EQ(
      names(pools_columns(), pgbouncer_column_count("POOLS")),
      (std::vector<std::string>{"database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
                                "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
                                "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode"}));
  EXPECT_EQ(names(connections_columns(), pgbouncer_column_count("CLIENTS")),
            (std::vector<std::string>{"type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
                                      "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
                                      "remote_pid", "tls", "application_name"}));
  EXPECT_EQ(names(stats_totals_columns(), pgbouncer_column_count("STATS_TOTALS")),
            (std::vector<std::string>{"database", "xact_count", "query_count", "bytes_received", "bytes_sent",
                                      "xact_time", "query_time", "wait_time"}));
  EXPECT_EQ(stats_columns()[14].name, "avg_wait_time");
  EXPECT_EQ(pgbouncer_column_count("STATS"), 15u);
  EXPECT_EQ(names(config_columns(), 4), (std::vector<std::string>{"key", "value", "default", "changeable"}));
  EXPECT_EQ(names(sockets_columns(), pgbouncer_column_count("SOCKETS")),
            (std::vector<std::string>{"type",       "user",       "database",         "state",        "addr",
                                      "port",       "local_addr", "local_port",       "connect_time", "request_time",
                                      "wait",       "wait_us",    "close_needed",     "ptr",          "link",
                                      "remote_pid", "tls",        "application_name", "recv_pos",     "pkt_pos",
                                      "pkt_remain", "send_pos",   "send_remain",      "pkt_avail",    "send_avail"}));
  EXPECT_EQ(pgbouncer_column_count("ACTIVE_SOCKETS"), 25u);
  // SOCKETS starts as CLIENTS does; ours come after PgBouncer's, as in CLIENTS.
  EXPECT_EQ(names(sockets_columns(), 18), names(connections_columns(), 18));
  EXPECT_EQ(names(sockets_columns(), sockets_columns().size()).back(), "id");
  EXPECT_EQ(names(fds_columns(), pgbouncer_column_count("FDS")),
            (std::vector<std::string>{"fd", "task", "user", "database", "addr", "port", "cancel", "link",
                                      "client_encoding", "std_strings", "datestyle", "timezone", "password",
                                      "scram_client_key", "scram_server_key"}));
  EXPECT_EQ(names(dns_hosts_columns(), pgbouncer_column_count("DNS_HOSTS")),
            (std::vector<std::string>{"hostname", "ttl", "addrs"}));
  EXPECT_EQ(names(dns_zones_columns(), pgbouncer_column_count("DNS_ZONES")),
            (std::vector<std::string>{"zonename", "serial", "count"}));
  // 1.18 types: counts int4, the SHOW STATS family numeric.
  EXPECT_EQ(pools_columns()[2].type, column_type::int4);
  for (std::size_t i = 1; i < stats_columns().size(); ++i) EXPECT_EQ(stats_columns()[i].type, column_type::numeric);
  EXPECT_EQ(databases_columns()[2].type, column_type::int4);
  for (std::size_t i = 18; i < 25; ++i) EXPECT_EQ(sockets_columns()[i].type, column_type::int4);
  EXPECT_EQ(fds_columns()[0].type, column_type::int4);
  EXPECT_EQ(fds_columns()[6].type, column_type::int8);                 // cancel
  EXPECT_EQ(static_cast<std::uint32_t>(fds_columns()[13].type), 17u);  // bytea
  EXPECT_EQ(dns_hosts_columns()[1].type, column_type::int8);
  EXPECT_EQ(dns_zones_columns()[1].type, column_type::int8);
  EXPECT_EQ(dns_zones_columns()[2].type, column_type::int4);
}

TEST(AdminResults, AveragesFollowPgBouncer) {
  stats_figures delta;
  delta.xact_count = 120;
  delta.query_count = 240;
  delta.bytes_received = 6000;
  delta.bytes_sent = 60000;
  delta.xact_time = 120 * 500;
  delta.query_time = 240 * 100;
  delta.wait_time = 60 * 1000;
  delta.server_assignment_count = 120;
  const auto a = averages(delta, 60s);
  EXPECT_EQ(a.xact_count, 2u);  // per second
  EXPECT_EQ(a.query_count, 4u);
  EXPECT_EQ(a.bytes_received, 100u);
  EXPECT_EQ(a.bytes_sent, 1000u);
  EXPECT_EQ(a.xact_time, 500u);   // per transaction
  EXPECT_EQ(a.query_time, 100u);  // per query
  EXPECT_EQ(a.wait_time, 1000u);  // per second, as 1.18
  EXPECT_EQ(a.server_assignment_count, 2u);
  EXPECT_EQ(averages(delta, 0s).xact_count, 0u);
  EXPECT_EQ(averages(stats_figures{}, 60s).xact_time, 0u);
}

TEST(AdminResults, TimesAsPgBouncerWritesThem) {
  EXPECT_EQ(format_time(std::chrono::system_clock::time_point(std::chrono::seconds(1714566896))),
            "2024-05-01 12:34:56 UTC");
}

}  // namespace
}  // namespace pgfunnel::admin
