// Unit tests for single-value parsers: durations, sizes, counts, listen addresses.
#include <gtest/gtest.h>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {
namespace {

using namespace std::chrono_literals;

duration dur(std::string_view text) {
  std::string error;
  auto d = parse_duration(text, error);
  EXPECT_TRUE(d) << text << ": " << error;
  return d.value_or(duration(-1));
}

std::string dur_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(parse_duration(text, error)) << text;
  return error;
}

TEST(Duration, UnitsAndBareSeconds) {
  EXPECT_EQ(dur("30s"), 30s);
  EXPECT_EQ(dur("5m"), 5min);
  EXPECT_EQ(dur("5min"), 5min);
  EXPECT_EQ(dur("1h"), 1h);
  EXPECT_EQ(dur("250ms"), 250ms);
  EXPECT_EQ(dur("2d"), 48h);
  EXPECT_EQ(dur("45"), 45s);  // as PgBouncer: a bare number is seconds
  EXPECT_EQ(dur("0"), 0ms);
  EXPECT_EQ(dur(" 10 s "), 10s);
}

TEST(Duration, Errors) {
  EXPECT_NE(dur_error("10 parsecs").find("unknown duration unit 'parsecs'"), std::string::npos);
  EXPECT_NE(dur_error("soon").find("is not a duration"), std::string::npos);
  EXPECT_EQ(dur_error("-5s"), "must not be negative");
  EXPECT_EQ(dur_error("99999999999999999999999s"), "is too large");
  EXPECT_EQ(dur_error("999999999999999999d"), "is too large");
  EXPECT_NE(dur_error("").find("is not a duration"), std::string::npos);
  EXPECT_NE(dur_error("1.5s").find("unknown duration unit"), std::string::npos);
}

TEST(Duration, FormatPicksLargestExactUnit) {
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(3600s), "1h");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(0ms), "0");
}

TEST(Size, UnitsAreBinary) {
  std::string e;
  EXPECT_EQ(parse_size("512", e), 512u);
  EXPECT_EQ(parse_size("8kB", e), 8u * 1024);
  EXPECT_EQ(parse_size("8KB", e), 8u * 1024);
  EXPECT_EQ(parse_size("8KiB", e), 8u * 1024);
  EXPECT_EQ(parse_size("64MB", e), 64u << 20);
  EXPECT_EQ(parse_size("1GB", e), 1u << 30);
  EXPECT_EQ(parse_size("2GiB", e), 2ull << 30);
  EXPECT_EQ(parse_size("100B", e), 100u);
  EXPECT_EQ(format_size(1u << 30), "1GB");
  EXPECT_EQ(format_size(8192), "8kB");
  EXPECT_EQ(format_size(1000), "1000");
}

TEST(Size, Errors) {
  std::string e;
  EXPECT_FALSE(parse_size("8 kilos", e));
  EXPECT_NE(e.find("unknown size unit 'kilos'"), std::string::npos);
  EXPECT_FALSE(parse_size("big", e));
  EXPECT_NE(e.find("is not a size"), std::string::npos);
  EXPECT_FALSE(parse_size("-1", e));
  EXPECT_EQ(e, "must not be negative");
  EXPECT_FALSE(parse_size("99999999999TB", e));
  EXPECT_EQ(e, "is too large");
}

TEST(Count, Bounds) {
  std::string e;
  EXPECT_EQ(parse_count("20", 1, 100, e), 20u);
  EXPECT_FALSE(parse_count("0", 1, 100, e));
  EXPECT_EQ(e, "must be at least 1");
  EXPECT_FALSE(parse_count("-3", 1, 100, e));
  EXPECT_EQ(e, "must be at least 1");
  EXPECT_FALSE(parse_count("101", 1, 100, e));
  EXPECT_EQ(e, "must be at most 100");
  EXPECT_FALSE(parse_count("99999999999999999999999", 1, 100, e));
  EXPECT_EQ(e, "must be at most 100");
  EXPECT_FALSE(parse_count("lots", 1, 100, e));
  EXPECT_EQ(e, "expected a whole number, got 'lots'");
  EXPECT_FALSE(parse_count("2.5", 1, 100, e));
}

TEST(ListenAddress, Parses) {
  std::string e;
  auto a = parse_listen_address("127.0.0.1:6432", e);
  ASSERT_TRUE(a) << e;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6432);
  EXPECT_TRUE(a->is_loopback());
  EXPECT_EQ(a->to_string(), "127.0.0.1:6432");

  a = parse_listen_address("[::1]:6432", e);
  ASSERT_TRUE(a) << e;
  EXPECT_EQ(a->host, "::1");
  EXPECT_TRUE(a->is_loopback());
  EXPECT_EQ(a->to_string(), "[::1]:6432");

  a = parse_listen_address("0.0.0.0:5000", e);
  ASSERT_TRUE(a) << e;
  EXPECT_FALSE(a->is_loopback());

  for (std::string_view off : {"", "off"}) {
    a = parse_listen_address(off, e);
    ASSERT_TRUE(a) << e;
    EXPECT_FALSE(a->enabled());
    EXPECT_EQ(a->to_string(), "off");
  }
}

TEST(ListenAddress, Loopback) {
  EXPECT_TRUE((listen_address{"localhost", 1}).is_loopback());
  EXPECT_TRUE((listen_address{"127.1.2.3", 1}).is_loopback());
  EXPECT_TRUE((listen_address{"0:0:0:0:0:0:0:1", 1}).is_loopback());
  EXPECT_TRUE((listen_address{"::ffff:127.0.0.1", 1}).is_loopback());
  EXPECT_FALSE((listen_address{"::", 1}).is_loopback());
  EXPECT_FALSE((listen_address{"10.0.0.1", 1}).is_loopback());
  EXPECT_FALSE((listen_address{"db.example.com", 1}).is_loopback());
}

TEST(ListenAddress, Errors) {
  std::string e;
  EXPECT_FALSE(parse_listen_address("127.0.0.1:70000", e));
  EXPECT_NE(e.find("bad port '70000'"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("127.0.0.1:-1", e));
  // Port 0 asks the system for a free port (the tests use it).
  auto any_port = parse_listen_address("127.0.0.1:0", e);
  ASSERT_TRUE(any_port);
  EXPECT_EQ(any_port->port, 0);
  EXPECT_FALSE(parse_listen_address("6432", e));
  EXPECT_NE(e.find("has no port"), std::string::npos);
  EXPECT_FALSE(parse_listen_address(":6432", e));
  EXPECT_NE(e.find("has no host"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("::1:6432", e));
  EXPECT_NE(e.find("brackets"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("[::1]6432", e));
  EXPECT_FALSE(parse_listen_address("localhost:http", e));
}

}  // namespace
}  // namespace pgfunnel::config
