// Unit tests for pgfunnel::log: text and JSON line shapes, connection ids, levels, JSON escaping.
#include "pgfunnel/log/log.hpp"

#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

// Counts how often it is formatted: proves a disabled level never formats its arguments.
struct format_counter {
  int* count;
};
template <>
struct fmt::formatter<format_counter> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <typename FormatContext>
  auto format(const format_counter& c, FormatContext& ctx) const {
    ++*c.count;
    return fmt::format_to(ctx.out(), "counted");
  }
};

namespace pgfunnel::log {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Each test captures into its own stream; the logger is global, so put stderr text back after.
class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { init("info", false); }
  std::ostringstream out;
};

TEST_F(LogTest, TextLineHasTimestampPaddedLevelAndMessage) {
  init_for_test(out, "info", false);
  info("hello {}", 42);
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u);
  // std::regex (ECMAScript) rather than gtest's MatchesRegex, whose POSIX subset lacks {n}.
  EXPECT_TRUE(std::regex_match(lines[0],
                               std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info  hello 42)")))
      << lines[0];
}

TEST_F(LogTest, TextLineCarriesConnectionIds) {
  init_for_test(out, "debug", false);
  info(conn_ids{client_id(42), server_id(7)}, "linked {}", "x");
  warn(client_id(3), "alone");
  debug(conn_ids{std::nullopt, server_id(9)}, "server only");
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr(" info  [c42 s7] linked x"));
  EXPECT_THAT(lines[1], HasSubstr(" warn  [c3] alone"));
  EXPECT_THAT(lines[2], HasSubstr(" debug [s9] server only"));
}

TEST_F(LogTest, TextEscapesNewlinesSoOneRecordIsOneLine) {
  init_for_test(out, "info", false);
  info("a\nb\rc\x01");
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("a\\nb\\rc\\x01"));
}

TEST_F(LogTest, JsonLineShape) {
  init_for_test(out, "info", true);
  error(conn_ids{client_id(42), server_id(7)}, "boom {}", 1);
  info("plain");
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"error",)"
                           R"("msg":"boom 1","client":"c42","server":"s7"\})")))
      << lines[0];
  EXPECT_THAT(lines[1], HasSubstr(R"("level":"info","msg":"plain"})"));
  EXPECT_THAT(lines[1], Not(HasSubstr("client")));
}

TEST_F(LogTest, JsonEscapesQuotesNewlinesAndControlCharacters) {
  init_for_test(out, "info", true);
  info("say \"hi\"\\\n\t\x01\x1f end");
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(R"("msg":"say \"hi\"\\\n\t\u0001\u001f end")"));
}

TEST(JsonEscape, EscapesEverythingJsonRequires) {
  EXPECT_EQ(json_escape(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(json_escape("\n\r\t\b\f"), R"(\n\r\t\b\f)");
  EXPECT_EQ(json_escape(std::string("\0\x1f\x7f", 3)), R"(\u0000\u001f\u007f)");
  EXPECT_EQ(json_escape("plain / text"), "plain / text");
}

TEST(JsonEscape, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_escape("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(json_escape("a\xff" "b"), R"(a\ufffdb)");
  EXPECT_EQ(json_escape("\xc3"), R"(\ufffd)");                   // truncated sequence
  EXPECT_EQ(json_escape("\xc0\xaf"), R"(\ufffd\ufffd)");         // overlong '/'
  EXPECT_EQ(json_escape("\xed\xa0\x80"), R"(\ufffd\ufffd\ufffd)");  // UTF-16 surrogate
}

TEST_F(LogTest, DisabledLevelsDoNotFormatArguments) {
  init_for_test(out, "warn", false);
  int formatted = 0;
  info("{}", format_counter{&formatted});
  debug(client_id(1), "{}", format_counter{&formatted});
  EXPECT_EQ(formatted, 0);
  EXPECT_TRUE(out.str().empty());
  warn("{}", format_counter{&formatted});
  EXPECT_EQ(formatted, 1);
  EXPECT_FALSE(should_log(level::info));
  EXPECT_TRUE(should_log(level::warn));
  EXPECT_TRUE(should_log(level::error));
}

TEST_F(LogTest, SetLevelChangesWhatIsWritten) {
  init_for_test(out, "info", false);
  debug("hidden");
  EXPECT_TRUE(set_level("DEBUG"));
  EXPECT_EQ(current_level(), level::debug);
  debug("shown");
  EXPECT_FALSE(set_level("loud"));
  EXPECT_EQ(current_level(), level::debug);
  EXPECT_TRUE(set_level("off"));
  error("nothing at off");
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("debug shown"));
}

TEST(LogLevels, ParseAndPrint) {
  EXPECT_EQ(parse_level("warning"), level::warn);
  EXPECT_EQ(parse_level("Error"), level::error);
  EXPECT_EQ(parse_level("verbose"), std::nullopt);
  EXPECT_EQ(to_string(level::critical), "critical");
  EXPECT_THROW(init("nope", false), std::invalid_argument);
}

TEST(ConnId, Formats) {
  EXPECT_EQ(fmt::format("{}", client_id(42)), "c42");
  EXPECT_EQ(to_string(server_id(7)), "s7");
  EXPECT_EQ(fmt::format("[{} {}]", client_id(1), server_id(18446744073709551615ull)),
            "[c1 s18446744073709551615]");
}

TEST_F(LogTest, ConcurrentWritersKeepTheirOwnIds) {
  init_for_test(out, "info", true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 100; ++i) info(conn_ids{client_id(t), server_id(i)}, "t{} i{}", t, i);
    });
  }
  for (auto& th : threads) th.join();
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 400u);
  for (const auto& line : lines) {
    // Each line's ids match its message: the per-thread id context never leaks across threads.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, std::regex(R"re("msg":"t(\d+) i(\d+)","client":"c(\d+)","server":"s(\d+)")re")))
        << line;
    EXPECT_EQ(m[1], m[3]);
    EXPECT_EQ(m[2], m[4]);
  }
}

}  // namespace
}  // namespace pgfunnel::log
