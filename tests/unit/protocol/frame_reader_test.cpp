// Unit tests of the frame reader: byte-boundary splits, draining, length limits, tags per direction, peek_header.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "pgfunnel/protocol/errc.hpp"
#include "pgfunnel/protocol/frame.hpp"
#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::string_literals;
using protocol::direction;
using protocol::errc;
using protocol::frame_reader;
using protocol::frame_status;
using protocol::phase;

constexpr std::uint32_t kMax = 1 << 20;

frame_reader frontend_reader(std::uint32_t max = kMax) { return {phase::tagged, direction::frontend, max}; }
frame_reader backend_reader(std::uint32_t max = kMax) { return {phase::tagged, direction::backend, max}; }
frame_reader startup_reader(std::uint32_t max = kMax) { return {phase::startup, direction::frontend, max}; }

// A decoded message: tag (0 in the startup phase) and body bytes.
using message = std::pair<std::uint8_t, std::string>;

message expect_of(const std::string& wire, phase p) {
  if (p == phase::startup) return {0, wire.substr(4)};
  return {static_cast<std::uint8_t>(wire[0]), wire.substr(5)};
}

std::vector<std::string> frontend_messages() {
  return {fe::query("SELECT 1"),
          fe::parse("s1", "SELECT $1::int", {23}),
          fe::bind("", "s1", {"42", std::nullopt}, {0}),
          fe::describe('P', ""),
          fe::execute("", 0),
          fe::sync(),
          fe::flush(),
          fe::close('S', "s1"),
          fe::password("secret"),
          fe::sasl_initial_response("SCRAM-SHA-256", "n,,n=,r=abc"),
          fe::copy_data(std::string(300, '\0')),
          fe::copy_done(),
          fe::copy_fail("oops"),
          fe::terminate()};
}

std::vector<std::string> backend_messages() {
  return {be::auth_ok(),
          be::auth_sasl({"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}),
          be::auth_md5("salt"),
          be::parameter_status("server_version", "16.1"),
          be::backend_key_data(1234, -99),
          be::ready_for_query('I'),
          be::error({{'S', "ERROR"}, {'V', "ERROR"}, {'C', "42P01"}, {'M', "relation does not exist"}}),
          be::notice({{'S', "NOTICE"}, {'M', "hi"}}),
          be::parse_complete(),
          be::bind_complete(),
          be::close_complete(),
          be::no_data(),
          be::empty_query_response(),
          be::row_description({{"a", 23}, {"b", 25}}),
          be::data_row({"1", std::nullopt}),
          be::command_complete("SELECT 1"),
          be::negotiate_protocol_version(0, {"_pq_.x"})};
}

std::vector<std::string> startup_messages() {
  return {fe::startup({{"user", "alice"}, {"database", "app"}, {"application_name", "t"}}),
          fe::startup({}),
          fe::ssl_request(),
          fe::gssenc_request(),
          fe::cancel(4242, 0x7fffffff)};
}

// Feeds every prefix 0..n of `wire`: incomplete with the right `needed` until the whole message is there.
void check_every_prefix(const frame_reader& reader, const std::string& wire, std::size_t header) {
  SCOPED_TRACE(hex(wire.substr(0, 16)));
  for (std::size_t n = 0; n < wire.size(); ++n) {
    SCOPED_TRACE("prefix " + std::to_string(n));
    const auto r = reader.next(as_span(std::string_view(wire).substr(0, n)));
    ASSERT_EQ(r.status, frame_status::incomplete);
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.needed, n < header ? header : wire.size());
    EXPECT_GT(r.needed, n);

    const auto h = reader.peek_header(as_span(std::string_view(wire).substr(0, n)));
    if (n < header) {
      EXPECT_EQ(h.status, frame_status::incomplete);
      EXPECT_EQ(h.needed, header);
    } else {
      ASSERT_EQ(h.status, frame_status::complete);
      EXPECT_EQ(h.msg.size, wire.size());
    }
  }
  const auto r = reader.next(as_span(wire));
  ASSERT_EQ(r.status, frame_status::complete);
  EXPECT_EQ(r.msg.size, wire.size());
  const auto [tag, body] = expect_of(wire, reader.current_phase());
  EXPECT_EQ(r.msg.tag, tag);
  EXPECT_EQ(r.msg.length, wire.size() - (tag == 0 ? 0 : 1));
  EXPECT_EQ(to_string(r.msg.body), body);
}

TEST(FrameReader, TaggedFrontendSplitAtEveryByte) {
  for (const auto& wire : frontend_messages()) check_every_prefix(frontend_reader(), wire, 5);
}

TEST(FrameReader, TaggedBackendSplitAtEveryByte) {
  for (const auto& wire : backend_messages()) check_every_prefix(backend_reader(), wire, 5);
}

TEST(FrameReader, StartupSplitAtEveryByte) {
  for (const auto& wire : startup_messages()) check_every_prefix(startup_reader(), wire, 4);
}

// The classic pattern: bytes arrive in chunks of `chunk`; after each read, drain every complete message.
// The first packet of a frontend stream is a startup packet; the reader switches to tagged after it.
std::vector<message> drain_in_chunks(frame_reader reader, const std::string& stream, std::size_t chunk,
                                     bool switch_after_startup) {
  std::vector<message> out;
  std::string buffer;
  for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
    buffer += stream.substr(pos, chunk);
    for (;;) {
      const auto r = reader.next(as_span(buffer));
      EXPECT_NE(r.status, frame_status::error) << r.ec.message();
      if (r.status != frame_status::complete) {
        EXPECT_GT(r.needed, buffer.size());
        break;
      }
      out.emplace_back(r.msg.tag, to_string(r.msg.body));
      const bool was_startup = reader.current_phase() == phase::startup;
      buffer.erase(0, r.msg.size);
      // SSLRequest keeps the startup phase; the StartupMessage ends it.
      if (switch_after_startup && was_startup && out.back().second.substr(0, 4) == u32be(fe::protocol_3_0))
        reader.set_phase(phase::tagged);
    }
  }
  EXPECT_TRUE(buffer.empty()) << hex(buffer);
  return out;
}

TEST(FrameReader, IncrementalChunksFrontendStream) {
  std::string stream;
  std::vector<message> expected;
  auto add = [&](const std::string& wire, phase p) {
    stream += wire;
    expected.push_back(expect_of(wire, p));
  };
  add(fe::ssl_request(), phase::startup);
  add(fe::startup({{"user", "bob"}, {"database", "db"}}), phase::startup);
  for (const auto& wire : frontend_messages()) add(wire, phase::tagged);

  for (std::size_t chunk : {1, 2, 3, 7, 64, 4096}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    EXPECT_EQ(drain_in_chunks(startup_reader(), stream, chunk, true), expected);
  }
}

TEST(FrameReader, IncrementalChunksBackendStream) {
  std::string stream;
  std::vector<message> expected;
  for (const auto& wire : backend_messages()) {
    stream += wire;
    expected.push_back(expect_of(wire, phase::tagged));
  }
  for (std::size_t chunk : {1, 2, 3, 7, 64, 4096}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    EXPECT_EQ(drain_in_chunks(backend_reader(), stream, chunk, false), expected);
  }
}

TEST(FrameReader, SeveralMessagesInOneRead) {
  const std::vector<std::string> parts = {fe::parse("", "SELECT 1"), fe::bind("", ""), fe::describe('P', ""),
                                          fe::execute("", 0), fe::sync()};
  std::string buffer;
  for (const auto& p : parts) buffer += p;
  buffer += "Q\0\0"s;  // the start of a sixth message

  const auto reader = frontend_reader();
  const auto all = as_span(buffer);
  std::size_t offset = 0;
  for (const auto& p : parts) {
    const auto r = reader.next(all.subspan(offset));
    ASSERT_EQ(r.status, frame_status::complete);
    EXPECT_EQ(r.msg.tag, static_cast<std::uint8_t>(p[0]));
    EXPECT_EQ(r.msg.size, p.size());
    EXPECT_EQ(to_string(r.msg.body), p.substr(5));
    // The body is a view into the caller's buffer, not a copy.
    EXPECT_EQ(r.msg.body.data(), all.data() + offset + 5);
    offset += r.msg.size;
  }
  const auto rest = reader.next(all.subspan(offset));
  EXPECT_EQ(rest.status, frame_status::incomplete);
  EXPECT_EQ(rest.needed, 5u);
}

TEST(FrameReader, TaggedLengthsBelowFourAreTooShort) {
  for (std::uint32_t length : {0u, 1u, 2u, 3u}) {
    SCOPED_TRACE(length);
    // With only the header, and with bytes after it.
    for (const auto& wire : {msg_with_length('Q', length), msg_with_length('Q', length, "abcdef"s)}) {
      const auto r = frontend_reader().next(as_span(wire));
      EXPECT_EQ(r.status, frame_status::error);
      EXPECT_EQ(r.ec, errc::length_too_short);
      EXPECT_EQ(frontend_reader().peek_header(as_span(wire)).ec, errc::length_too_short);
    }
    const auto b = backend_reader().next(as_span(msg_with_length('Z', length)));
    EXPECT_EQ(b.ec, errc::length_too_short);
  }
}

TEST(FrameReader, TaggedLengthFourIsAnEmptyBody) {
  for (const auto& wire : {fe::sync(), fe::flush(), fe::terminate(), fe::copy_done()}) {
    const auto r = frontend_reader().next(as_span(wire));
    ASSERT_EQ(r.status, frame_status::complete);
    EXPECT_EQ(r.msg.length, 4u);
    EXPECT_EQ(r.msg.size, 5u);
    EXPECT_TRUE(r.msg.body.empty());
  }
  const auto r = backend_reader().next(as_span(be::parse_complete()));
  ASSERT_EQ(r.status, frame_status::complete);
  EXPECT_TRUE(r.msg.body.empty());
}

// max_length bounds a whole message, tag included.
TEST(FrameReader, TaggedMaxLength) {
  const std::string at_limit = fe::query(std::string(94, 'x'));  // 1 + 4 + 95 = 100 bytes
  ASSERT_EQ(at_limit.size(), 100u);
  const auto ok = frontend_reader(100).next(as_span(at_limit));
  ASSERT_EQ(ok.status, frame_status::complete);
  EXPECT_EQ(ok.msg.size, 100u);

  const std::string over = fe::query(std::string(95, 'x'));
  const auto r = frontend_reader(100).next(as_span(over));
  EXPECT_EQ(r.status, frame_status::error);
  EXPECT_EQ(r.ec, errc::length_too_long);

  // Rejected from the header alone, before the body arrives.
  const auto h = frontend_reader(100).next(as_span(std::string_view(over).substr(0, 5)));
  EXPECT_EQ(h.status, frame_status::error);
  EXPECT_EQ(h.ec, errc::length_too_long);
  EXPECT_EQ(backend_reader(100).peek_header(as_span(msg_with_length('D', 1000))).ec, errc::length_too_long);
}

TEST(FrameReader, HugeAndNegativeLengthsAreRejected) {
  for (std::uint32_t length : {0x7fffffffu, 0x80000000u, 0xfffffffcu, 0xffffffffu}) {
    SCOPED_TRACE(length);
    const auto r = frontend_reader(std::uint32_t{0xffffffff}).next(as_span(msg_with_length('d', length)));
    if (length <= 0xfffffffeu) {
      // Within the limit: the reader waits for the body rather than misreading the length.
      EXPECT_EQ(r.status, frame_status::incomplete);
      EXPECT_EQ(r.needed, std::size_t{length} + 1);
    } else {
      EXPECT_EQ(r.ec, errc::length_too_long);
    }
    EXPECT_EQ(frontend_reader().next(as_span(msg_with_length('d', length))).ec, errc::length_too_long);
  }
}

// A limit smaller than any message (even 0) rejects everything instead of wrapping around.
TEST(FrameReader, TinyMaxLengthRejectsEverything) {
  for (std::uint32_t max : {0u, 1u, 2u, 3u, 4u}) {
    SCOPED_TRACE(max);
    const auto r = frontend_reader(max).next(as_span(fe::sync()));
    EXPECT_EQ(r.status, frame_status::error);
    EXPECT_EQ(r.ec, errc::length_too_long);
    EXPECT_EQ(backend_reader(max).next(as_span(be::ready_for_query('I'))).ec, errc::length_too_long);
    EXPECT_EQ(startup_reader(max).next(as_span(fe::ssl_request())).ec, errc::length_too_long);
  }
  EXPECT_EQ(frontend_reader(5).next(as_span(fe::sync())).status, frame_status::complete);
  EXPECT_EQ(startup_reader(8).next(as_span(fe::ssl_request())).status, frame_status::complete);
}

TEST(FrameReader, StartupLengthsBelowEightAreTooShort) {
  for (std::uint32_t length = 0; length < 8; ++length) {
    SCOPED_TRACE(length);
    const std::string wire = u32be(length) + std::string(12, '\0');
    const auto r = startup_reader().next(as_span(wire));
    EXPECT_EQ(r.status, frame_status::error);
    EXPECT_EQ(r.ec, errc::length_too_short);
    EXPECT_EQ(startup_reader().peek_header(as_span(std::string_view(wire).substr(0, 4))).ec,
              errc::length_too_short);
  }
}

TEST(FrameReader, StartupLengthAbove10000IsTooLong) {
  // Exactly 10000 is accepted (PostgreSQL's MAX_STARTUP_PACKET_LENGTH), whatever max_length says above it.
  const std::string big = fe::startup({{"options", std::string(10000 - 4 - 4 - 8 - 1 - 1, 'o')}});
  ASSERT_EQ(big.size(), 10000u);
  const auto ok = startup_reader().next(as_span(big));
  ASSERT_EQ(ok.status, frame_status::complete);
  EXPECT_EQ(ok.msg.size, 10000u);
  EXPECT_EQ(ok.msg.length, 10000u);

  for (std::uint32_t length : {10001u, 65536u, 0x80000000u, 0xffffffffu}) {
    SCOPED_TRACE(length);
    const auto r = startup_reader().next(as_span(u32be(length)));
    EXPECT_EQ(r.status, frame_status::error);
    EXPECT_EQ(r.ec, errc::length_too_long);
  }
  // A configured max_length below 10000 also applies.
  EXPECT_EQ(startup_reader(100).next(as_span(u32be(101))).ec, errc::length_too_long);
  EXPECT_EQ(startup_reader(100).next(as_span(u32be(100))).status, frame_status::incomplete);
}

TEST(FrameReader, StartupBodyIncludesTheCode) {
  const std::string wire = fe::cancel(1, 2);
  const auto r = startup_reader().next(as_span(wire));
  ASSERT_EQ(r.status, frame_status::complete);
  EXPECT_EQ(r.msg.tag, 0);
  EXPECT_EQ(r.msg.length, 16u);
  EXPECT_EQ(to_string(r.msg.body), wire.substr(4));
}

TEST(FrameReader, FrontendRejectsBackendOnlyTags) {
  for (char tag : {'Z', 'R', 'K', 'T', '1', '2', '3', 'n', 'N', 'A', 't', 's', 'I', 'G', 'W', 'V', 'v'}) {
    SCOPED_TRACE(std::string(1, tag));
    const std::string wire = msg(tag, "x");
    const auto r = frontend_reader().next(as_span(wire));
    EXPECT_EQ(r.status, frame_status::error);
    EXPECT_EQ(r.ec, errc::unknown_tag);
    // Known from the tag byte alone.
    EXPECT_EQ(frontend_reader().next(as_span(wire.substr(0, 1))).ec, errc::unknown_tag);
    EXPECT_EQ(backend_reader().next(as_span(wire)).status, frame_status::complete);
  }
}

TEST(FrameReader, BackendRejectsFrontendOnlyTags) {
  for (char tag : {'Q', 'P', 'B', 'X', 'p', 'F', 'f'}) {
    SCOPED_TRACE(std::string(1, tag));
    const std::string wire = msg(tag, "x");
    const auto r = backend_reader().next(as_span(wire));
    EXPECT_EQ(r.status, frame_status::error);
    EXPECT_EQ(r.ec, errc::unknown_tag);
    EXPECT_EQ(backend_reader().peek_header(as_span(wire.substr(0, 3))).ec, errc::unknown_tag);
    EXPECT_EQ(frontend_reader().next(as_span(wire)).status, frame_status::complete);
  }
}

TEST(FrameReader, TagsOfNeitherDirectionAreRejected) {
  for (char tag : {'\0', 'z', 'a', '0', '9', '\x7f', '\xff', ' '}) {
    const std::string wire = msg(tag, {});
    EXPECT_EQ(frontend_reader().next(as_span(wire)).ec, errc::unknown_tag);
    EXPECT_EQ(backend_reader().next(as_span(wire)).ec, errc::unknown_tag);
  }
}

TEST(FrameReader, TagSetsMatchTheProtocol) {
  const std::string frontend = "BCdcfDEHFPpQSX";
  const std::string backend = "RK23CdcGHWDIEVvnNAtS1sZT";
  for (int t = 0; t < 256; ++t) {
    const auto tag = static_cast<std::uint8_t>(t);
    EXPECT_EQ(protocol::is_frontend_tag(tag), frontend.find(static_cast<char>(t)) != std::string::npos) << t;
    EXPECT_EQ(protocol::is_backend_tag(tag), backend.find(static_cast<char>(t)) != std::string::npos) << t;
  }
}

TEST(FrameReader, PeekHeaderWithOnlyTheHeader) {
  const std::string wire = fe::query(std::string(1000, 'q'));
  const auto h = frontend_reader().peek_header(as_span(wire.substr(0, 5)));
  ASSERT_EQ(h.status, frame_status::complete);
  EXPECT_EQ(h.msg.tag, 'Q');
  EXPECT_EQ(h.msg.length, 1005u);
  EXPECT_EQ(h.msg.size, 1006u);
  EXPECT_TRUE(h.msg.body.empty());
  const auto n = frontend_reader().next(as_span(wire.substr(0, 5)));
  EXPECT_EQ(n.status, frame_status::incomplete);
  EXPECT_EQ(n.needed, 1006u);

  const std::string start = fe::startup({{"user", "u"}});
  const auto s = startup_reader().peek_header(as_span(start.substr(0, 4)));
  ASSERT_EQ(s.status, frame_status::complete);
  EXPECT_EQ(s.msg.tag, 0);
  EXPECT_EQ(s.msg.size, start.size());
  EXPECT_EQ(s.msg.length, start.size());

  // The header of a whole message: the same answer as next().
  const auto full = backend_reader().peek_header(as_span(be::ready_for_query('T')));
  ASSERT_EQ(full.status, frame_status::complete);
  EXPECT_EQ(full.msg.tag, 'Z');
  EXPECT_EQ(full.msg.size, 6u);
}

TEST(FrameReader, PeekHeaderOnEmptyAndShortBuffers) {
  EXPECT_EQ(frontend_reader().peek_header({}).status, frame_status::incomplete);
  EXPECT_EQ(frontend_reader().peek_header({}).needed, 5u);
  EXPECT_EQ(startup_reader().peek_header({}).needed, 4u);
  EXPECT_EQ(startup_reader().next(as_span("\0\0\0"s)).needed, 4u);
  EXPECT_EQ(frontend_reader().next(as_span("S\0\0\0"s)).needed, 5u);
}

TEST(FrameReader, PhaseAndLimitAccessors) {
  frame_reader r(phase::startup, direction::frontend, 1234);
  EXPECT_EQ(r.current_phase(), phase::startup);
  EXPECT_EQ(r.max_length(), 1234u);
  r.set_phase(phase::tagged);
  EXPECT_EQ(r.current_phase(), phase::tagged);
  // The same bytes mean different things per phase: "Q\0\0\0\x0d" is a tagged Query header,
  // but as a startup length ("Q\0\0\0" = 0x51000000) it is far above 10000.
  const std::string wire = fe::query("SELECT 1");
  EXPECT_EQ(r.next(as_span(wire)).status, frame_status::complete);
  r.set_phase(phase::startup);
  EXPECT_EQ(r.next(as_span(wire)).ec, errc::length_too_long);
}

}  // namespace
}  // namespace pgfunnel::test
