// Unit tests of the message decoders: well-formed messages from the byte builders, and every malformed case.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"
#include "pgfunnel/protocol/bytes.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/errc.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::string_literals;
using protocol::auth_request;
using protocol::errc;
using protocol::startup_kind;
using protocol::transaction_status;

// The body of a tagged message / a startup packet built by the byte builders.
std::string body(const std::string& wire) { return wire.substr(5); }
std::string startup_body(const std::string& wire) { return wire.substr(4); }
std::string_view sv(protocol::byte_span s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

// ---- startup packets ------------------------------------------------------------------------------

TEST(DecodeStartup, StartupMessage) {
  const std::string b =
      startup_body(fe::startup({{"user", "alice"}, {"database", "app"}, {"application_name", ""}}));
  protocol::startup_packet p;
  ASSERT_FALSE(protocol::decode_startup(as_span(b), p));
  EXPECT_EQ(p.kind, startup_kind::startup_message);
  EXPECT_EQ(p.protocol_version, protocol::protocol_version_3_0);
  ASSERT_EQ(p.parameters.size(), 3u);
  EXPECT_EQ(p.parameters[0].first, "user");
  EXPECT_EQ(p.parameters[0].second, "alice");
  EXPECT_EQ(p.parameters[1].first, "database");
  EXPECT_EQ(p.parameters[2].first, "application_name");
  EXPECT_EQ(p.parameters[2].second, "");
  EXPECT_EQ(p.parameter("user"), "alice");
  EXPECT_EQ(p.parameter("database"), "app");
  EXPECT_EQ(p.parameter("options"), "");
}

TEST(DecodeStartup, NoParameters) {
  const std::string b = startup_body(fe::startup({}));
  protocol::startup_packet p;
  ASSERT_FALSE(protocol::decode_startup(as_span(b), p));
  EXPECT_EQ(p.kind, startup_kind::startup_message);
  EXPECT_TRUE(p.parameters.empty());
}

TEST(DecodeStartup, MinorVersionsOfThreeAreAccepted) {
  // 3.2 is answered with NegotiateProtocolVersion by the caller, not refused here.
  const std::string b = startup_body(fe::startup({{"user", "u"}}, (3u << 16) | 2u));
  protocol::startup_packet p;
  ASSERT_FALSE(protocol::decode_startup(as_span(b), p));
  EXPECT_EQ(p.kind, startup_kind::startup_message);
  EXPECT_EQ(p.protocol_version, (3 << 16) | 2);
}

TEST(DecodeStartup, BadProtocolVersions) {
  // 2.0, 1.0, 4.0, 0.0, 1234.5681 (no such request code), 65535.65535.
  for (std::uint32_t version : {2u << 16, 1u << 16, 4u << 16, 0u, (1234u << 16) | 5681u, 0xffffffffu}) {
    SCOPED_TRACE(version);
    const std::string b = startup_body(fe::startup({{"user", "u"}}, version));
    protocol::startup_packet p;
    EXPECT_EQ(protocol::decode_startup(as_span(b), p), errc::bad_protocol_version);
  }
}

// 1234.5678 is not a protocol version: it is the CancelRequest code, so such a packet is read as a
// CancelRequest (and a StartupMessage-shaped body after it does not fit one).
TEST(DecodeStartup, Version1234_5678IsACancelRequest) {
  const std::string b = startup_body(fe::startup({{"user", "alice"}}, (1234u << 16) | 5678u));
  protocol::startup_packet p;
  EXPECT_EQ(protocol::decode_startup(as_span(b), p), errc::trailing_bytes);
  EXPECT_EQ(p.kind, startup_kind::cancel_request);

  const std::string short_body = startup_body(fe::startup({}, (1234u << 16) | 5678u));
  EXPECT_EQ(protocol::decode_startup(as_span(short_body), p), errc::truncated);
}

TEST(DecodeStartup, MalformedStartupMessage) {
  protocol::startup_packet p;
  const std::string version = u32be(fe::protocol_3_0);
  // No final NUL after the last pair.
  EXPECT_EQ(protocol::decode_startup(as_span(version + cstr("user") + cstr("u")), p), errc::missing_terminator);
  // No list at all.
  EXPECT_EQ(protocol::decode_startup(as_span(version), p), errc::missing_terminator);
  // A name without a value.
  EXPECT_EQ(protocol::decode_startup(as_span(version + cstr("user")), p), errc::missing_terminator);
  // A value without its NUL.
  EXPECT_EQ(protocol::decode_startup(as_span(version + cstr("user") + "u"), p), errc::missing_terminator);
  // Bytes after the final NUL.
  EXPECT_EQ(protocol::decode_startup(as_span(version + cstr("user") + cstr("u") + "\0x"s), p),
            errc::trailing_bytes);
  // A body shorter than the code itself.
  EXPECT_EQ(protocol::decode_startup(as_span("\0\x03"s), p), errc::truncated);
  EXPECT_EQ(protocol::decode_startup({}, p), errc::truncated);
}

TEST(DecodeStartup, SslAndGssencRequests) {
  protocol::startup_packet p;
  const std::string ssl = startup_body(fe::ssl_request());
  ASSERT_FALSE(protocol::decode_startup(as_span(ssl), p));
  EXPECT_EQ(p.kind, startup_kind::ssl_request);
  const std::string gss = startup_body(fe::gssenc_request());
  ASSERT_FALSE(protocol::decode_startup(as_span(gss), p));
  EXPECT_EQ(p.kind, startup_kind::gssenc_request);

  EXPECT_EQ(protocol::decode_startup(as_span(ssl + "x"), p), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_startup(as_span(ssl + "\0\0\0\0"s), p), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_startup(as_span(gss + "\0"s), p), errc::trailing_bytes);
}

TEST(DecodeStartup, CancelRequest) {
  protocol::startup_packet p;
  const std::string b = startup_body(fe::cancel(4242, -559038737));
  ASSERT_FALSE(protocol::decode_startup(as_span(b), p));
  EXPECT_EQ(p.kind, startup_kind::cancel_request);
  EXPECT_EQ(p.process_id, 4242);
  EXPECT_EQ(p.secret_key, -559038737);
  EXPECT_TRUE(p.parameters.empty());

  for (std::size_t cut = 4; cut < b.size(); ++cut) {
    SCOPED_TRACE(cut);
    EXPECT_EQ(protocol::decode_startup(as_span(std::string_view(b).substr(0, cut)), p), errc::truncated);
  }
  EXPECT_EQ(protocol::decode_startup(as_span(b + "z"), p), errc::trailing_bytes);
}

TEST(DecodeStartup, ResetsThePreviousResult) {
  protocol::startup_packet p;
  const std::string s = startup_body(fe::startup({{"user", "u"}}));
  ASSERT_FALSE(protocol::decode_startup(as_span(s), p));
  const std::string c = startup_body(fe::cancel(1, 2));
  ASSERT_FALSE(protocol::decode_startup(as_span(c), p));
  EXPECT_TRUE(p.parameters.empty());
  EXPECT_EQ(p.protocol_version, 0);
}

// ---- backend messages -------------------------------------------------------------------------------

TEST(DecodeAuthentication, SimpleRequests) {
  protocol::authentication a;
  const std::string ok = body(be::auth_ok());
  ASSERT_FALSE(protocol::decode_authentication(as_span(ok), a));
  EXPECT_EQ(a.type, auth_request::ok);
  const std::string clear = body(be::auth_cleartext());
  ASSERT_FALSE(protocol::decode_authentication(as_span(clear), a));
  EXPECT_EQ(a.type, auth_request::cleartext_password);
  for (std::int32_t type : {2, 7, 9}) {
    const std::string b = i32be(type);
    ASSERT_FALSE(protocol::decode_authentication(as_span(b), a)) << type;
    EXPECT_EQ(static_cast<std::int32_t>(a.type), type);
  }
}

TEST(DecodeAuthentication, Md5Salt) {
  protocol::authentication a;
  const std::string b = body(be::auth_md5("\x01\x02\x00\xff"s));
  ASSERT_FALSE(protocol::decode_authentication(as_span(b), a));
  EXPECT_EQ(a.type, auth_request::md5_password);
  EXPECT_EQ(sv(a.data), "\x01\x02\x00\xff"s);
  EXPECT_EQ(protocol::decode_authentication(as_span(b.substr(0, 7)), a), errc::truncated);
  EXPECT_EQ(protocol::decode_authentication(as_span(b + "x"), a), errc::trailing_bytes);
}

TEST(DecodeAuthentication, SaslFamilyKeepsTheData) {
  protocol::authentication a;
  const std::string sasl = body(be::auth_sasl({"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}));
  ASSERT_FALSE(protocol::decode_authentication(as_span(sasl), a));
  EXPECT_EQ(a.type, auth_request::sasl);
  EXPECT_EQ(sv(a.data), "SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0"s);
  std::vector<std::string_view> mechanisms;
  ASSERT_FALSE(protocol::decode_sasl_mechanisms(a.data, mechanisms));
  EXPECT_EQ(mechanisms, (std::vector<std::string_view>{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}));

  const std::string cont = body(be::auth_sasl_continue("r=abc,s=salt,i=4096"));
  ASSERT_FALSE(protocol::decode_authentication(as_span(cont), a));
  EXPECT_EQ(a.type, auth_request::sasl_continue);
  EXPECT_EQ(sv(a.data), "r=abc,s=salt,i=4096");

  const std::string fin = body(be::auth_sasl_final("v=xyz"));
  ASSERT_FALSE(protocol::decode_authentication(as_span(fin), a));
  EXPECT_EQ(a.type, auth_request::sasl_final);
  EXPECT_EQ(sv(a.data), "v=xyz");

  const std::string gss_continue = i32be(8) + "tok"s;
  ASSERT_FALSE(protocol::decode_authentication(as_span(gss_continue), a));
  EXPECT_EQ(a.type, auth_request::gss_continue);
  EXPECT_EQ(sv(a.data), "tok");
}

TEST(DecodeAuthentication, DataIsResetBetweenMessages) {
  protocol::authentication a;
  const std::string sasl = body(be::auth_sasl({"SCRAM-SHA-256"}));
  ASSERT_FALSE(protocol::decode_authentication(as_span(sasl), a));
  ASSERT_FALSE(a.data.empty());
  const std::string ok = body(be::auth_ok());
  ASSERT_FALSE(protocol::decode_authentication(as_span(ok), a));
  EXPECT_EQ(a.type, auth_request::ok);
  EXPECT_TRUE(a.data.empty());
}

TEST(DecodeAuthentication, Malformed) {
  protocol::authentication a;
  for (std::int32_t type : {1, 4, 6, 13, 99, -1, INT32_MIN}) {
    const std::string b = i32be(type);
    EXPECT_EQ(protocol::decode_authentication(as_span(b), a), errc::bad_field) << type;
  }
  const std::string ok = body(be::auth_ok());
  EXPECT_EQ(protocol::decode_authentication(as_span(ok + "x"), a), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_authentication(as_span(i32be(3) + "\0"s), a), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_authentication(as_span(ok.substr(0, 3)), a), errc::truncated);
  EXPECT_EQ(protocol::decode_authentication({}, a), errc::truncated);
}

TEST(DecodeSaslMechanisms, Cases) {
  std::vector<std::string_view> m{"stale"};
  EXPECT_FALSE(protocol::decode_sasl_mechanisms(as_span("\0"s), m));
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(protocol::decode_sasl_mechanisms(as_span("SCRAM-SHA-256\0"s), m), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_sasl_mechanisms(as_span("SCRAM-SHA-256"s), m), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_sasl_mechanisms(as_span("A\0\0B"s), m), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_sasl_mechanisms({}, m), errc::missing_terminator);
}

TEST(DecodeParameterStatus, Cases) {
  protocol::parameter_status ps;
  const std::string b = body(be::parameter_status("TimeZone", "Europe/Paris"));
  ASSERT_FALSE(protocol::decode_parameter_status(as_span(b), ps));
  EXPECT_EQ(ps.name, "TimeZone");
  EXPECT_EQ(ps.value, "Europe/Paris");
  const std::string empty_value = body(be::parameter_status("application_name", ""));
  ASSERT_FALSE(protocol::decode_parameter_status(as_span(empty_value), ps));
  EXPECT_EQ(ps.value, "");

  EXPECT_EQ(protocol::decode_parameter_status(as_span("TimeZone\0UTC"s), ps), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_parameter_status(as_span("TimeZone\0"s), ps), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_parameter_status(as_span(b + "x"), ps), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_parameter_status({}, ps), errc::missing_terminator);
}

TEST(DecodeBackendKeyData, Cases) {
  protocol::backend_key_data k;
  const std::string b = body(be::backend_key_data(31337, INT32_MIN));
  ASSERT_FALSE(protocol::decode_backend_key_data(as_span(b), k));
  EXPECT_EQ(k.process_id, 31337);
  EXPECT_EQ(k.secret_key, INT32_MIN);
  for (std::size_t cut = 0; cut < b.size(); ++cut)
    EXPECT_EQ(protocol::decode_backend_key_data(as_span(std::string_view(b).substr(0, cut)), k), errc::truncated);
  EXPECT_EQ(protocol::decode_backend_key_data(as_span(b + "\0"s), k), errc::trailing_bytes);
}

TEST(DecodeReadyForQuery, Cases) {
  transaction_status st{};
  for (char c : {'I', 'T', 'E'}) {
    const std::string b = body(be::ready_for_query(c));
    ASSERT_FALSE(protocol::decode_ready_for_query(as_span(b), st)) << c;
    EXPECT_EQ(static_cast<char>(st), c);
  }
  for (char c : {'X', 'i', '\0', 'Z', '\xff'}) {
    const std::string b = body(be::ready_for_query(c));
    EXPECT_EQ(protocol::decode_ready_for_query(as_span(b), st), errc::bad_field) << int(c);
  }
  EXPECT_EQ(protocol::decode_ready_for_query({}, st), errc::truncated);
  EXPECT_EQ(protocol::decode_ready_for_query(as_span("II"s), st), errc::trailing_bytes);
}

TEST(DecodeDataRow, ColumnsValuesNullsAndMalformedRows) {
  // Two columns: 'alice' and NULL.
  const std::string row = "\x00\x02"s + "\x00\x00\x00\x05"s + "alice" + "\xff\xff\xff\xff"s;
  protocol::data_row_column c;
  ASSERT_FALSE(protocol::decode_data_row_column(as_span(row), 0, c));
  EXPECT_EQ(c.columns, 2u);
  ASSERT_TRUE(c.value);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(c.value->data()), c.value->size()), "alice");
  ASSERT_FALSE(protocol::decode_data_row_column(as_span(row), 1, c));
  EXPECT_FALSE(c.value);  // NULL
  EXPECT_EQ(protocol::decode_data_row_column(as_span(row), 2, c), errc::bad_field);  // no such column
  // An empty value is not NULL.
  const std::string empty = "\x00\x01"s + "\x00\x00\x00\x00"s;
  ASSERT_FALSE(protocol::decode_data_row_column(as_span(empty), 0, c));
  ASSERT_TRUE(c.value);
  EXPECT_TRUE(c.value->empty());
  // A length past the body, a negative length other than -1, bytes after the last column.
  EXPECT_EQ(protocol::decode_data_row_column(as_span("\x00\x01\x00\x00\x00\x09abc"s), 0, c), errc::truncated);
  EXPECT_EQ(protocol::decode_data_row_column(as_span("\x00\x01\xff\xff\xff\xfe"s), 0, c), errc::bad_field);
  EXPECT_EQ(protocol::decode_data_row_column(as_span(row + "x"), 0, c), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_data_row_column(as_span("\xff\xff"s), 0, c), errc::bad_field);  // -1 columns
  EXPECT_EQ(protocol::decode_data_row_column({}, 0, c), errc::truncated);
}

TEST(DecodeErrorResponse, AllFields) {
  const std::string b = body(be::error({{'S', "FATAL"},
                                        {'V', "FATAL"},
                                        {'C', "53300"},
                                        {'M', "too many clients"},
                                        {'D', "the pool is full"},
                                        {'H', "retry later"},
                                        {'P', "12"},
                                        {'F', "postmaster.c"},
                                        {'L', "42"},
                                        {'R', "f"}}));
  protocol::error_fields f;
  ASSERT_FALSE(protocol::decode_error_response(as_span(b), f));
  EXPECT_EQ(f.severity, "FATAL");
  EXPECT_EQ(f.severity_v, "FATAL");
  EXPECT_EQ(f.code, "53300");
  EXPECT_EQ(f.message, "too many clients");
  EXPECT_EQ(f.detail, "the pool is full");
  EXPECT_EQ(f.hint, "retry later");
}

TEST(DecodeErrorResponse, NoticeAndEmptyAndReset) {
  protocol::error_fields f;
  const std::string full = body(be::error({{'S', "ERROR"}, {'C', "42P01"}, {'M', "x"}, {'D', "d"}}));
  ASSERT_FALSE(protocol::decode_error_response(as_span(full), f));
  EXPECT_EQ(f.detail, "d");
  const std::string notice = body(be::notice({{'S', "NOTICE"}, {'M', "m"}}));
  ASSERT_FALSE(protocol::decode_error_response(as_span(notice), f));
  EXPECT_EQ(f.severity, "NOTICE");
  EXPECT_EQ(f.message, "m");
  EXPECT_EQ(f.code, "");    // not left over from the previous message
  EXPECT_EQ(f.detail, "");
  const std::string empty = body(be::error({}));
  ASSERT_FALSE(protocol::decode_error_response(as_span(empty), f));
  EXPECT_EQ(f.severity, "");
  EXPECT_EQ(f.message, "");
}

TEST(DecodeErrorResponse, Malformed) {
  protocol::error_fields f;
  const std::string b = body(be::error({{'S', "ERROR"}, {'C', "42P01"}, {'M', "nope"}}));
  // Without the final NUL that ends the field list.
  EXPECT_EQ(protocol::decode_error_response(as_span(b.substr(0, b.size() - 1)), f), errc::truncated);
  // A field value without its NUL.
  EXPECT_EQ(protocol::decode_error_response(as_span("SERROR\0Mnope"s), f), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_error_response(as_span("S"s), f), errc::missing_terminator);
  // Bytes after the final NUL.
  EXPECT_EQ(protocol::decode_error_response(as_span(b + "x"), f), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_error_response({}, f), errc::truncated);
}

// ---- frontend messages ------------------------------------------------------------------------------

TEST(DecodeQuery, Cases) {
  std::string_view sql;
  const std::string b = body(fe::query("SELECT 'a;b'"));
  ASSERT_FALSE(protocol::decode_query(as_span(b), sql));
  EXPECT_EQ(sql, "SELECT 'a;b'");
  const std::string empty = body(fe::query(""));
  ASSERT_FALSE(protocol::decode_query(as_span(empty), sql));
  EXPECT_EQ(sql, "");
  EXPECT_EQ(protocol::decode_query(as_span("SELECT 1"s), sql), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_query(as_span("SELECT 1\0;"s), sql), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_query(as_span("a\0\0"s), sql), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_query({}, sql), errc::missing_terminator);
}

TEST(DecodeParse, Cases) {
  protocol::parse_message p;
  const std::string b = body(fe::parse("stmt1", "SELECT $1, $2", {23, 0xfffffffe}));
  ASSERT_FALSE(protocol::decode_parse(as_span(b), p));
  EXPECT_EQ(p.statement, "stmt1");
  EXPECT_EQ(p.query, "SELECT $1, $2");
  EXPECT_EQ(p.parameter_count, 2);
  EXPECT_EQ(sv(p.parameter_types), u32be(23) + u32be(0xfffffffe));

  const std::string unnamed = body(fe::parse("", "SELECT 1"));
  ASSERT_FALSE(protocol::decode_parse(as_span(unnamed), p));
  EXPECT_EQ(p.statement, "");
  EXPECT_EQ(p.parameter_count, 0);
  EXPECT_TRUE(p.parameter_types.empty());
}

TEST(DecodeParse, Malformed) {
  protocol::parse_message p;
  const std::string names = cstr("s") + cstr("SELECT $1");
  // Negative parameter counts.
  EXPECT_EQ(protocol::decode_parse(as_span(names + i16be(-1)), p), errc::bad_field);
  EXPECT_EQ(protocol::decode_parse(as_span(names + i16be(INT16_MIN) + std::string(64, '\0')), p), errc::bad_field);
  // More OIDs announced than sent, and fewer.
  EXPECT_EQ(protocol::decode_parse(as_span(names + i16be(2) + u32be(23)), p), errc::truncated);
  EXPECT_EQ(protocol::decode_parse(as_span(names + i16be(1) + u32be(23) + "\0"s), p), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_parse(as_span(names + i16be(0) + u32be(23)), p), errc::trailing_bytes);
  // No count, half a count.
  EXPECT_EQ(protocol::decode_parse(as_span(names), p), errc::truncated);
  EXPECT_EQ(protocol::decode_parse(as_span(names + "\0"s), p), errc::truncated);
  // Missing NULs.
  EXPECT_EQ(protocol::decode_parse(as_span(cstr("s") + "SELECT 1"), p), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_parse(as_span("s"s), p), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_parse({}, p), errc::missing_terminator);
}

TEST(DecodeBindNames, Cases) {
  protocol::bind_names n;
  const std::string b = body(fe::bind("portal", "stmt", {"1", std::nullopt, "abc"}, {1, 0}));
  ASSERT_FALSE(protocol::decode_bind_names(as_span(b), n));
  EXPECT_EQ(n.portal, "portal");
  EXPECT_EQ(n.statement, "stmt");
  const std::string unnamed = body(fe::bind("", ""));
  ASSERT_FALSE(protocol::decode_bind_names(as_span(unnamed), n));
  EXPECT_EQ(n.portal, "");
  EXPECT_EQ(n.statement, "");
  // Only the names are decoded: what follows is forwarded as it is.
  const std::string garbage = "p\0s\0garbage"s;
  ASSERT_FALSE(protocol::decode_bind_names(as_span(garbage), n));
  EXPECT_EQ(n.statement, "s");

  EXPECT_EQ(protocol::decode_bind_names(as_span("p\0s"s), n), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_bind_names(as_span("p"s), n), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_bind_names({}, n), errc::missing_terminator);
}

TEST(DecodeDescribeClose, Cases) {
  protocol::target_name t;
  for (char kind : {'S', 'P'}) {
    const std::string d = body(fe::describe(kind, "name1"));
    ASSERT_FALSE(protocol::decode_describe(as_span(d), t));
    EXPECT_EQ(t.kind, kind);
    EXPECT_EQ(t.name, "name1");
    const std::string c = body(fe::close(kind, ""));
    ASSERT_FALSE(protocol::decode_close(as_span(c), t));
    EXPECT_EQ(t.kind, kind);
    EXPECT_EQ(t.name, "");
  }
}

TEST(DecodeDescribeClose, Malformed) {
  protocol::target_name t;
  for (char kind : {'s', 'p', 'X', '\0', '\xff'}) {
    SCOPED_TRACE(int(kind));
    const std::string d = body(fe::describe(kind, "n"));
    EXPECT_EQ(protocol::decode_describe(as_span(d), t), errc::bad_field);
    const std::string c = body(fe::close(kind, "n"));
    EXPECT_EQ(protocol::decode_close(as_span(c), t), errc::bad_field);
  }
  EXPECT_EQ(protocol::decode_describe({}, t), errc::truncated);
  EXPECT_EQ(protocol::decode_close({}, t), errc::truncated);
  EXPECT_EQ(protocol::decode_describe(as_span("S"s), t), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_close(as_span("Pname"s), t), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_describe(as_span("Sn\0x"s), t), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_close(as_span("P\0\0"s), t), errc::trailing_bytes);
}

TEST(DecodeExecute, Cases) {
  protocol::execute_message e;
  const std::string b = body(fe::execute("p1", 100));
  ASSERT_FALSE(protocol::decode_execute(as_span(b), e));
  EXPECT_EQ(e.portal, "p1");
  EXPECT_EQ(e.max_rows, 100);
  EXPECT_EQ(protocol::decode_execute(as_span(cstr("p1") + "\0\0"s), e), errc::truncated);
  EXPECT_EQ(protocol::decode_execute(as_span(b + "x"), e), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_execute(as_span("p1"s), e), errc::missing_terminator);
}

TEST(DecodeCopyFail, Cases) {
  std::string_view m;
  const std::string b = body(fe::copy_fail("disk full"));
  ASSERT_FALSE(protocol::decode_copy_fail(as_span(b), m));
  EXPECT_EQ(m, "disk full");
  EXPECT_EQ(protocol::decode_copy_fail(as_span("disk full"s), m), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_copy_fail(as_span(b + "\0"s), m), errc::trailing_bytes);
}

TEST(DecodePasswordMessage, Cases) {
  std::string_view pw;
  const std::string b = body(fe::password("md5abcdef0123456789"));
  ASSERT_FALSE(protocol::decode_password_message(as_span(b), pw));
  EXPECT_EQ(pw, "md5abcdef0123456789");
  EXPECT_EQ(protocol::decode_password_message(as_span("secret"s), pw), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_password_message(as_span("a\0b\0"s), pw), errc::trailing_bytes);
  EXPECT_EQ(protocol::decode_password_message({}, pw), errc::missing_terminator);
}

TEST(DecodeSaslInitialResponse, Cases) {
  protocol::sasl_initial_response s;
  const std::string data = "n,,n=,r=rOprNGfwEbeRWgbNEkqO\0binary"s;
  const std::string b = body(fe::sasl_initial_response("SCRAM-SHA-256", data));
  ASSERT_FALSE(protocol::decode_sasl_initial_response(as_span(b), s));
  EXPECT_EQ(s.mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(s.data, data);

  const std::string none = body(fe::sasl_initial_response("SCRAM-SHA-256", std::nullopt));
  s.data = "stale";
  ASSERT_FALSE(protocol::decode_sasl_initial_response(as_span(none), s));
  EXPECT_EQ(s.mechanism, "SCRAM-SHA-256");
  EXPECT_TRUE(s.data.empty());

  const std::string zero = body(fe::sasl_initial_response("M", ""));
  ASSERT_FALSE(protocol::decode_sasl_initial_response(as_span(zero), s));
  EXPECT_TRUE(s.data.empty());
}

TEST(DecodeSaslInitialResponse, Malformed) {
  protocol::sasl_initial_response s;
  const std::string mech = cstr("SCRAM-SHA-256");
  for (std::int32_t length : {-2, -100, INT32_MIN}) {
    SCOPED_TRACE(length);
    EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech + i32be(length) + "abc"), s), errc::bad_field);
  }
  // Longer than the body, and shorter.
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech + i32be(4) + "abc"), s), errc::truncated);
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech + i32be(INT32_MAX) + "abc"), s), errc::truncated);
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech + i32be(2) + "abc"), s), errc::trailing_bytes);
  // -1 (no data) followed by bytes anyway.
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech + i32be(-1) + "x"), s), errc::trailing_bytes);
  // The length itself cut short, or missing.
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech + "\0\0"s), s), errc::truncated);
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span(mech), s), errc::truncated);
  // No NUL after the mechanism.
  EXPECT_EQ(protocol::decode_sasl_initial_response(as_span("SCRAM-SHA-256"s), s), errc::missing_terminator);
  EXPECT_EQ(protocol::decode_sasl_initial_response({}, s), errc::missing_terminator);
}

// ---- the pieces underneath ----------------------------------------------------------------------------

TEST(BodyReader, FirstErrorSticksAndNothingIsReadPastTheEnd) {
  const std::string b = "ab\0"s + i32be(-7) + i16be(-2) + "z";
  protocol::body_reader r(as_span(b));
  EXPECT_EQ(r.cstring(), "ab");
  EXPECT_EQ(r.i32(), -7);
  EXPECT_EQ(r.i16(), -2);
  EXPECT_EQ(r.remaining(), 1u);
  EXPECT_EQ(r.i16(), 0);  // one byte left: truncated
  EXPECT_EQ(r.error(), errc::truncated);
  EXPECT_EQ(r.u8(), 0);   // sticky: nothing more is read
  EXPECT_EQ(r.cstring(), "");
  EXPECT_EQ(r.remaining(), 1u);
  EXPECT_EQ(r.finish(), errc::truncated);
}

TEST(BodyReader, BytesRestAndFinish) {
  const std::string b = "abcdef";
  protocol::body_reader r(as_span(b));
  EXPECT_EQ(sv(r.bytes(2)), "ab");
  EXPECT_EQ(r.finish(), errc::trailing_bytes);
  EXPECT_EQ(sv(r.rest()), "cdef");
  EXPECT_TRUE(r.at_end());
  EXPECT_FALSE(r.finish());
  EXPECT_TRUE(r.bytes(0).empty());
  EXPECT_FALSE(r.error());
  EXPECT_TRUE(r.bytes(1).empty());
  EXPECT_EQ(r.error(), errc::truncated);
}

TEST(BodyReader, EmptySpanWithoutData) {
  protocol::body_reader r{protocol::byte_span{}};
  EXPECT_EQ(r.cstring(), "");
  EXPECT_EQ(r.error(), errc::missing_terminator);
  protocol::body_reader r2{protocol::byte_span{}};
  EXPECT_TRUE(r2.rest().empty());
  EXPECT_FALSE(r2.finish());
}

TEST(ErrorCategory, NamesAndMessages) {
  const std::error_code ec = errc::truncated;
  EXPECT_STREQ(ec.category().name(), "pgfunnel.protocol");
  EXPECT_EQ(&ec.category(), &protocol::error_category());
  std::vector<std::string> seen;
  for (int e = static_cast<int>(errc::length_too_short); e <= static_cast<int>(errc::bad_field); ++e) {
    const std::string m = protocol::make_error_code(static_cast<errc>(e)).message();
    EXPECT_FALSE(m.empty());
    for (const auto& s : seen) EXPECT_NE(m, s);
    seen.push_back(m);
  }
  EXPECT_EQ(protocol::error_category().message(0), "unknown protocol error");
  EXPECT_FALSE(std::error_code{});
  EXPECT_NE(std::error_code(errc::truncated), std::error_code(static_cast<int>(errc::truncated), std::generic_category()));
}

}  // namespace
}  // namespace pgfunnel::test
