// Unit tests of the stream scanner: every chunking of a stream, held messages, inspect_limit, stops, framing errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "pgfunnel/protocol/errc.hpp"
#include "pgfunnel/protocol/frame.hpp"
#include "pgfunnel/session/stream_scanner.hpp"

namespace pgfunnel::test {
namespace {

using protocol::direction;
using protocol::errc;
using session::scan_result;
using session::scanned_message;
using session::stream_scanner;

constexpr std::uint32_t kMax = 1 << 20;

struct visit {
  char tag;
  std::uint32_t length;
  bool complete;
  std::string body;  // empty unless complete
};

// Records every visit; wants the tags in `whole` held until complete; stops (once per message)
// at the visits whose index is in `stop_at`.
struct recording_visitor {
  std::string whole;
  std::set<std::size_t> stop_at;
  std::vector<visit> visits;
  std::size_t stops = 0;

  bool wants_whole(std::uint8_t tag) const { return whole.find(static_cast<char>(tag)) != std::string::npos; }
  bool on_message(const scanned_message& m) {
    if (stop_at.erase(visits.size()) > 0) {
      ++stops;
      return false;
    }
    visits.push_back({static_cast<char>(m.tag), m.length, m.complete, m.complete ? to_string(m.body) : std::string()});
    return true;
  }
};

// Drives a scanner as the relay does: a buffer of kept bytes plus each new read; what is forwarded
// is sent on, what is kept moves to the front. A stop is resumed at once (the visitor stops once).
struct relay_result {
  std::string forwarded;
  std::string kept;
  std::error_code ec;
  std::size_t scans = 0;
};

relay_result relay(stream_scanner& s, recording_visitor& v, const std::string& stream, std::size_t chunk) {
  relay_result out;
  std::string buffer;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t n = std::min(chunk, stream.size() - pos);
    buffer.append(stream, pos, n);
    pos += n;
    for (;;) {
      const scan_result r = s.scan(as_span(buffer), v);
      ++out.scans;
      EXPECT_LE(r.forward + r.keep, buffer.size());
      out.forwarded.append(buffer, 0, r.forward);
      if (r.ec) {
        out.ec = r.ec;
        out.kept = buffer.substr(r.forward);
        return out;
      }
      if (r.stopped) {
        EXPECT_EQ(r.keep, 0u);
        buffer.erase(0, r.forward);
        continue;  // resume: the visitor accepts the message this time
      }
      EXPECT_EQ(r.forward + r.keep, buffer.size());
      buffer = buffer.substr(r.forward, r.keep);
      break;
    }
  }
  out.kept = buffer;
  return out;
}

// A backend stream: small wanted messages ('Z', 'S'), a large DataRow, empty-body messages.
std::vector<std::string> backend_stream() {
  return {be::parameter_status("application_name", "app"),
          be::row_description({{"a", 23}, {"b", 25}}),
          be::data_row({"1", std::string(300, 'x')}),
          be::data_row({std::nullopt, "y"}),
          be::command_complete("SELECT 2"),
          be::ready_for_query('I'),
          be::parse_complete(),
          be::bind_complete(),
          be::no_data(),
          be::notice({{'S', "NOTICE"}, {'M', "hello"}}),
          be::parameter_status("TimeZone", "UTC"),
          be::empty_query_response(),
          be::ready_for_query('T')};
}

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += p;
  return s;
}

TEST(StreamScanner, EveryChunkSizeForwardsTheStreamAndVisitsEachMessageOnce) {
  const auto parts = backend_stream();
  const std::string stream = join(parts);
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    stream_scanner s(direction::backend, kMax, 64);
    recording_visitor v{"ZS", {}, {}, 0};
    const auto r = relay(s, v, stream, chunk);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.forwarded, stream);
    EXPECT_TRUE(r.kept.empty());
    EXPECT_TRUE(s.at_boundary());
    ASSERT_EQ(v.visits.size(), parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto& part = parts[i];
      EXPECT_EQ(v.visits[i].tag, part[0]) << i;
      EXPECT_EQ(v.visits[i].length, part.size() - 1) << i;
      if (part[0] == 'Z' || part[0] == 'S') {
        EXPECT_TRUE(v.visits[i].complete) << i;
      }
      if (v.visits[i].complete) {
        EXPECT_EQ(v.visits[i].body, part.substr(5)) << i;
      }
    }
  }
}

TEST(StreamScanner, FrontendStreamEveryChunkSize) {
  const std::vector<std::string> parts = {fe::parse("s", "SELECT $1", {23}), fe::bind("", "s", {"7"}),
                                          fe::describe('P', ""),            fe::execute("", 0),
                                          fe::sync(),                       fe::query("SELECT 1"),
                                          fe::copy_data(std::string(100, 'q')), fe::copy_done(),
                                          fe::flush(),                      fe::terminate()};
  const std::string stream = join(parts);
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    stream_scanner s(direction::frontend, kMax, 16);
    recording_visitor v{"S", {}, {}, 0};
    const auto r = relay(s, v, stream, chunk);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.forwarded, stream);
    ASSERT_EQ(v.visits.size(), parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(v.visits[i].tag, parts[i][0]) << i;
    EXPECT_TRUE(v.visits[4].complete);
  }
}

TEST(StreamScanner, WholeStreamInOneReadVisitsEverythingComplete) {
  const auto parts = backend_stream();
  const std::string stream = join(parts);
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"ZS", {}, {}, 0};
  const auto r = s.scan(as_span(stream), v);
  EXPECT_FALSE(r.ec);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.forward, stream.size());
  EXPECT_EQ(r.keep, 0u);
  ASSERT_EQ(v.visits.size(), parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_TRUE(v.visits[i].complete);
    EXPECT_EQ(v.visits[i].body, parts[i].substr(5));
  }
}

TEST(StreamScanner, SplitHeaderIsKept) {
  const std::string z = be::ready_for_query('I');
  const std::string c = be::command_complete("SELECT 1");
  const std::string stream = c + z;
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"", {}, {}, 0};
  // The CommandComplete plus 3 bytes of the next header.
  const std::string first = stream.substr(0, c.size() + 3);
  const auto r = s.scan(as_span(first), v);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.forward, c.size());
  EXPECT_EQ(r.keep, 3u);
  EXPECT_TRUE(s.at_boundary());
  ASSERT_EQ(v.visits.size(), 1u);
  const std::string second = stream.substr(c.size());
  const auto r2 = s.scan(as_span(second), v);
  EXPECT_EQ(r2.forward, z.size());
  EXPECT_EQ(r2.keep, 0u);
  ASSERT_EQ(v.visits.size(), 2u);
  EXPECT_EQ(v.visits[1].tag, 'Z');
}

TEST(StreamScanner, WantedMessageHeldUntilComplete) {
  const std::string d = be::data_row({"abc"});
  const std::string z = be::ready_for_query('E');
  const std::string stream = d + z;
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"Z", {}, {}, 0};
  const auto r = s.scan(as_span(stream).first(stream.size() - 1), v);
  EXPECT_EQ(r.forward, d.size());
  EXPECT_EQ(r.keep, z.size() - 1);
  ASSERT_EQ(v.visits.size(), 1u);
  EXPECT_TRUE(s.at_boundary());
  const auto r2 = s.scan(as_span(z), v);
  EXPECT_EQ(r2.forward, z.size());
  ASSERT_EQ(v.visits.size(), 2u);
  EXPECT_TRUE(v.visits[1].complete);
  EXPECT_EQ(v.visits[1].body, "E");
}

TEST(StreamScanner, UnwantedMessageForwardedAsItArrives) {
  const std::string d = be::data_row({std::string(50, 'r')});
  stream_scanner s(direction::backend, kMax, 1024);
  recording_visitor v{"Z", {}, {}, 0};
  const auto r = s.scan(as_span(d).first(10), v);
  EXPECT_EQ(r.forward, 10u);
  EXPECT_EQ(r.keep, 0u);
  ASSERT_EQ(v.visits.size(), 1u);
  EXPECT_FALSE(v.visits[0].complete);
  EXPECT_EQ(v.visits[0].length, d.size() - 1);
  EXPECT_FALSE(s.at_boundary());
  EXPECT_EQ(s.body_remaining(), d.size() - 10);
}

TEST(StreamScanner, InspectLimitRespected) {
  // A ParameterStatus bigger than the limit is not held: it is visited incomplete and forwarded.
  const std::string big = be::parameter_status("application_name", std::string(100, 'a'));
  const std::string small = be::parameter_status("x", "y");
  const std::size_t limit = 40;
  ASSERT_GT(big.size(), limit);
  ASSERT_LE(small.size(), limit);
  const std::string stream = big + small;
  for (std::size_t chunk = 1; chunk < big.size(); ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    stream_scanner s(direction::backend, kMax, limit);
    recording_visitor v{"S", {}, {}, 0};
    const auto r = relay(s, v, stream, chunk);
    EXPECT_EQ(r.forwarded, stream);
    ASSERT_EQ(v.visits.size(), 2u);
    EXPECT_FALSE(v.visits[0].complete);
    EXPECT_TRUE(v.visits[0].body.empty());
    EXPECT_TRUE(v.visits[1].complete);
    EXPECT_EQ(v.visits[1].body, small.substr(5));
  }
}

TEST(StreamScanner, MessageExactlyAtInspectLimitIsHeld) {
  const std::string m = be::parameter_status("k", "v");
  stream_scanner s(direction::backend, kMax, m.size());
  recording_visitor v{"S", {}, {}, 0};
  const auto r = s.scan(as_span(m).first(m.size() - 1), v);
  EXPECT_EQ(r.forward, 0u);
  EXPECT_EQ(r.keep, m.size() - 1);
  EXPECT_TRUE(v.visits.empty());
  const auto r2 = s.scan(as_span(m), v);
  EXPECT_EQ(r2.forward, m.size());
  ASSERT_EQ(v.visits.size(), 1u);
  EXPECT_TRUE(v.visits[0].complete);
}

TEST(StreamScanner, VisitorStopLeavesForwardAtMessageStart) {
  const std::string q = fe::query("SELECT 1");
  const std::string x = fe::terminate();
  const std::string stream = q + x + fe::query("never");
  stream_scanner s(direction::frontend, kMax, 0);
  recording_visitor v{"", {1}, {}, 0};
  const auto r = s.scan(as_span(stream), v);
  EXPECT_TRUE(r.stopped);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.forward, q.size());
  EXPECT_EQ(r.keep, 0u);
  ASSERT_EQ(v.visits.size(), 1u);
  EXPECT_EQ(v.stops, 1u);
  EXPECT_TRUE(s.at_boundary());
}

TEST(StreamScanner, VisitorStopOnIncompleteMessageOwesNoBody) {
  const std::string d = fe::copy_data(std::string(100, 'z'));
  stream_scanner s(direction::frontend, kMax, 0);
  recording_visitor v{"", {0}, {}, 0};
  const auto r = s.scan(as_span(d).first(20), v);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.forward, 0u);
  EXPECT_TRUE(s.at_boundary());
  EXPECT_TRUE(v.visits.empty());
}

TEST(StreamScanner, StopAfterFinishingAnEarlierBody) {
  const std::string d = fe::copy_data(std::string(30, 'z'));
  const std::string c = fe::copy_done();
  stream_scanner s(direction::frontend, kMax, 0);
  recording_visitor v{"", {1}, {}, 0};
  auto r = s.scan(as_span(d).first(10), v);
  EXPECT_EQ(r.forward, 10u);
  EXPECT_EQ(s.body_remaining(), d.size() - 10);
  const std::string rest = d.substr(10) + c;
  r = s.scan(as_span(rest), v);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.forward, d.size() - 10);  // the earlier body went, the stopped message did not
  EXPECT_TRUE(s.at_boundary());
  // Resumed at the stopped message.
  r = s.scan(as_span(c), v);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.forward, c.size());
  ASSERT_EQ(v.visits.size(), 2u);
  EXPECT_EQ(v.visits[1].tag, 'c');
}

TEST(StreamScanner, StopsAtEveryMessageInEveryChunking) {
  const auto parts = backend_stream();
  const std::string stream = join(parts);
  for (std::size_t chunk : {1u, 2u, 5u, 7u, 13u, 64u, 1000u}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    stream_scanner s(direction::backend, kMax, 64);
    std::set<std::size_t> all;
    for (std::size_t i = 0; i < parts.size(); ++i) all.insert(i);
    recording_visitor v{"ZS", all, {}, 0};
    const auto r = relay(s, v, stream, chunk);
    EXPECT_EQ(r.forwarded, stream);
    EXPECT_EQ(v.visits.size(), parts.size());
    EXPECT_EQ(v.stops, parts.size());
  }
}

TEST(StreamScanner, BodyRemainingAcrossReads) {
  const std::string d = be::data_row({std::string(1000, 'p')});
  const std::string z = be::ready_for_query('I');
  const std::string stream = d + z;
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"Z", {}, {}, 0};
  EXPECT_TRUE(s.at_boundary());
  EXPECT_EQ(s.body_remaining(), 0u);

  auto r = s.scan(as_span(stream).subspan(0, 100), v);
  EXPECT_EQ(r.forward, 100u);
  EXPECT_FALSE(s.at_boundary());
  EXPECT_EQ(s.body_remaining(), d.size() - 100);

  r = s.scan(as_span(stream).subspan(100, 400), v);
  EXPECT_EQ(r.forward, 400u);
  EXPECT_EQ(s.body_remaining(), d.size() - 500);
  EXPECT_EQ(v.visits.size(), 1u);  // body bytes are not visits

  // The rest of the DataRow plus part of the ReadyForQuery (held: it is wanted whole).
  const std::size_t upto = d.size() + 3;
  r = s.scan(as_span(stream).subspan(500, upto - 500), v);
  EXPECT_EQ(r.forward, d.size() - 500);
  EXPECT_EQ(r.keep, 3u);
  EXPECT_TRUE(s.at_boundary());

  r = s.scan(as_span(stream).subspan(d.size()), v);
  EXPECT_EQ(r.forward, z.size());
  ASSERT_EQ(v.visits.size(), 2u);
  EXPECT_TRUE(v.visits[1].complete);
  EXPECT_TRUE(s.at_boundary());
}

TEST(StreamScanner, BodyEndingExactlyAtReadEnd) {
  const std::string d = be::data_row({std::string(40, 'p')});
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"", {}, {}, 0};
  auto r = s.scan(as_span(d).first(6), v);
  EXPECT_EQ(s.body_remaining(), d.size() - 6);
  r = s.scan(as_span(d).subspan(6), v);
  EXPECT_EQ(r.forward, d.size() - 6);
  EXPECT_EQ(r.keep, 0u);
  EXPECT_TRUE(s.at_boundary());
  EXPECT_EQ(v.visits.size(), 1u);
}

TEST(StreamScanner, ResetForgetsOwedBody) {
  const std::string d = be::data_row({std::string(40, 'p')});
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"", {}, {}, 0};
  s.scan(as_span(d).first(8), v);
  EXPECT_FALSE(s.at_boundary());
  s.reset();
  EXPECT_TRUE(s.at_boundary());
  const std::string z = be::ready_for_query('I');
  const auto r = s.scan(as_span(z), v);
  EXPECT_EQ(r.forward, z.size());
  ASSERT_EQ(v.visits.size(), 2u);
  EXPECT_EQ(v.visits[1].tag, 'Z');
}

TEST(StreamScanner, EmptyBufferDoesNothing) {
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"", {}, {}, 0};
  const auto r = s.scan(protocol::byte_span{}, v);
  EXPECT_EQ(r.forward, 0u);
  EXPECT_EQ(r.keep, 0u);
  EXPECT_FALSE(r.ec);
  EXPECT_FALSE(r.stopped);
}

TEST(StreamScanner, BadTagForDirection) {
  // 'Z' is a backend message; a client sending it is a protocol violation.
  const std::string q = fe::query("SELECT 1");
  const std::string stream = q + be::ready_for_query('I');
  stream_scanner s(direction::frontend, kMax, 64);
  recording_visitor v{"", {}, {}, 0};
  const auto r = s.scan(as_span(stream), v);
  EXPECT_EQ(r.ec, errc::unknown_tag);
  EXPECT_EQ(r.forward, q.size());
  EXPECT_EQ(v.visits.size(), 1u);

  // 'Q' from a server, reported from its tag byte alone.
  stream_scanner b(direction::backend, kMax, 64);
  const std::string one = "Q";
  const auto r2 = b.scan(as_span(one), v);
  EXPECT_EQ(r2.ec, errc::unknown_tag);
  EXPECT_EQ(r2.forward, 0u);
}

TEST(StreamScanner, LengthBelowFour) {
  for (std::uint32_t bad : {0u, 1u, 3u}) {
    const std::string z = be::ready_for_query('I');
    const std::string stream = z + msg_with_length('C', bad, "xyz");
    stream_scanner s(direction::backend, kMax, 64);
    recording_visitor v{"", {}, {}, 0};
    const auto r = s.scan(as_span(stream), v);
    EXPECT_EQ(r.ec, errc::length_too_short) << bad;
    EXPECT_EQ(r.forward, z.size());
  }
}

TEST(StreamScanner, LengthAboveMaximum) {
  const std::uint32_t max = 100;
  stream_scanner s(direction::backend, max, 64);
  recording_visitor v{"", {}, {}, 0};
  // The limit counts the tag: a length of 99 (100 bytes in all) passes, 100 does not.
  const std::string ok = msg_with_length('d', 99);
  const std::string bad = msg_with_length('d', 100);
  auto r = s.scan(as_span(ok), v);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.forward, ok.size());
  s.reset();
  r = s.scan(as_span(bad), v);
  EXPECT_EQ(r.ec, errc::length_too_long);
  EXPECT_EQ(r.forward, 0u);
}

TEST(StreamScanner, FramingErrorAfterABodySpanningReads) {
  const std::string d = be::data_row({std::string(20, 'p')});
  stream_scanner s(direction::backend, kMax, 64);
  recording_visitor v{"", {}, {}, 0};
  s.scan(as_span(d).first(7), v);
  const std::string rest = d.substr(7) + std::string(1, '\xff');
  const auto r = s.scan(as_span(rest), v);
  EXPECT_EQ(r.ec, errc::unknown_tag);
  EXPECT_EQ(r.forward, d.size() - 7);
}

TEST(StreamScanner, FramingErrorsInEveryChunking) {
  const auto parts = backend_stream();
  const std::string good = join(parts);
  const std::string stream = good + msg_with_length('C', 2) + be::ready_for_query('I');
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    stream_scanner s(direction::backend, kMax, 64);
    recording_visitor v{"ZS", {}, {}, 0};
    const auto r = relay(s, v, stream, chunk);
    EXPECT_EQ(r.ec, errc::length_too_short);
    EXPECT_EQ(r.forwarded, good);
    EXPECT_EQ(v.visits.size(), parts.size());
  }
}

}  // namespace
}  // namespace pgfunnel::test
