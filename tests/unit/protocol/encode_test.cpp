// Unit tests of the encoders: exact bytes against the independent byte builders, round trips, length patching.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/protocol/frame.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::string_literals;
namespace p = protocol;

// Frames exactly one whole message out of `wire`; the body views into `wire`.
p::frame frame_one(const std::string& wire, p::phase ph, p::direction d) {
  const p::frame_reader reader(ph, d, 1 << 20);
  const auto r = reader.next(as_span(wire));
  EXPECT_EQ(r.status, p::frame_status::complete) << r.ec.message() << " in " << hex(wire);
  EXPECT_EQ(r.msg.size, wire.size()) << hex(wire);
  return r.msg;
}
p::frame backend_frame(const std::string& wire) { return frame_one(wire, p::phase::tagged, p::direction::backend); }
p::frame frontend_frame(const std::string& wire) { return frame_one(wire, p::phase::tagged, p::direction::frontend); }
p::frame startup_frame(const std::string& wire) { return frame_one(wire, p::phase::startup, p::direction::frontend); }

template <typename F>
std::string encoded(F&& f) {
  std::string out;
  f(out);
  return out;
}

// ---- exact bytes ----------------------------------------------------------------------------------------

TEST(EncodeBytes, ErrorResponseWithAllFields) {
  const std::string out = encoded([](std::string& o) {
    p::encode_error_response(o, {.severity = "FATAL",
                                 .sqlstate = "53300",
                                 .message = "too many connections",
                                 .detail = "pool \"app\" is full",
                                 .hint = "raise pool_size"});
  });
  EXPECT_EQ(hex(out), hex(be::error({{'S', "FATAL"},
                                     {'V', "FATAL"},
                                     {'C', "53300"},
                                     {'M', "too many connections"},
                                     {'D', "pool \"app\" is full"},
                                     {'H', "raise pool_size"}})));
}

TEST(EncodeBytes, ErrorResponseOmitsEmptyDetailAndHint) {
  const std::string out =
      encoded([](std::string& o) { p::encode_error_response(o, {.sqlstate = "08P01", .message = "bad"}); });
  EXPECT_EQ(hex(out), hex(be::error({{'S', "ERROR"}, {'V', "ERROR"}, {'C', "08P01"}, {'M', "bad"}})));
  const std::string hint_only = encoded(
      [](std::string& o) { p::encode_error_response(o, {.sqlstate = "08P01", .message = "bad", .hint = "h"}); });
  EXPECT_EQ(hex(hint_only),
            hex(be::error({{'S', "ERROR"}, {'V', "ERROR"}, {'C', "08P01"}, {'M', "bad"}, {'H', "h"}})));
}

TEST(EncodeBytes, NoticeResponse) {
  const std::string out = encoded([](std::string& o) {
    p::encode_notice_response(o, {.severity = "WARNING", .sqlstate = "01000", .message = "w", .detail = "d"});
  });
  EXPECT_EQ(hex(out),
            hex(be::notice({{'S', "WARNING"}, {'V', "WARNING"}, {'C', "01000"}, {'M', "w"}, {'D', "d"}})));
}

TEST(EncodeBytes, Authentication) {
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_authentication_ok(o); })), hex(be::auth_ok()));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_authentication_cleartext_password(o); })),
            hex(be::auth_cleartext()));
  const std::array<std::uint8_t, 4> salt{0x00, 0x7f, 0x80, 0xff};
  EXPECT_EQ(hex(encoded([&](std::string& o) { p::encode_authentication_md5_password(o, salt); })),
            hex(be::auth_md5("\x00\x7f\x80\xff"s)));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_authentication_sasl(o, {"SCRAM-SHA-256"}); })),
            hex(be::auth_sasl({"SCRAM-SHA-256"})));
  EXPECT_EQ(hex(encoded([](std::string& o) {
              p::encode_authentication_sasl(o, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
            })),
            hex(be::auth_sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"})));
  const std::vector<std::string> list = {"SCRAM-SHA-256", "X"};
  EXPECT_EQ(hex(encoded([&](std::string& o) { p::encode_authentication_sasl(o, std::span<const std::string>(list)); })),
            hex(be::auth_sasl(list)));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_authentication_sasl(o, std::span<const std::string>{}); })),
            hex(be::auth_sasl({})));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_authentication_sasl_continue(o, "r=1,s=2,i=4096"); })),
            hex(be::auth_sasl_continue("r=1,s=2,i=4096")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_authentication_sasl_final(o, "v=abc"); })),
            hex(be::auth_sasl_final("v=abc")));
}

TEST(EncodeBytes, ParameterStatusBackendKeyDataReadyForQuery) {
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_parameter_status(o, "client_encoding", "UTF8"); })),
            hex(be::parameter_status("client_encoding", "UTF8")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_parameter_status(o, "x", ""); })),
            hex(be::parameter_status("x", "")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_backend_key_data(o, 12345, -2); })),
            hex(be::backend_key_data(12345, -2)));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_ready_for_query(o, p::transaction_status::idle); })),
            hex(be::ready_for_query('I')));
  EXPECT_EQ(
      hex(encoded([](std::string& o) { p::encode_ready_for_query(o, p::transaction_status::in_transaction); })),
      hex(be::ready_for_query('T')));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_ready_for_query(o, p::transaction_status::failed); })),
            hex(be::ready_for_query('E')));
}

TEST(EncodeBytes, NegotiateProtocolVersion) {
  const std::array<std::string_view, 2> options = {"_pq_.a", "_pq_.b"};
  EXPECT_EQ(hex(encoded([&](std::string& o) { p::encode_negotiate_protocol_version(o, 0, options); })),
            hex(be::negotiate_protocol_version(0, {"_pq_.a", "_pq_.b"})));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_negotiate_protocol_version(o, 2, {}); })),
            hex(be::negotiate_protocol_version(2, {})));
}

TEST(EncodeBytes, StartupSslCancel) {
  const std::vector<std::pair<std::string_view, std::string_view>> params = {{"user", "alice"},
                                                                             {"database", "app"}};
  EXPECT_EQ(hex(encoded([&](std::string& o) { p::encode_startup_message(o, params); })),
            hex(fe::startup({{"user", "alice"}, {"database", "app"}})));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_startup_message(o, {}); })), hex(fe::startup({})));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_ssl_request(o); })), hex(fe::ssl_request()));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_cancel_request(o, 777, -123456); })),
            hex(fe::cancel(777, -123456)));
}

TEST(EncodeBytes, FrontendMessages) {
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_password_message(o, "md5deadbeef"); })),
            hex(fe::password("md5deadbeef")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_sasl_initial_response(o, "SCRAM-SHA-256", "n,,n=,r=x"); })),
            hex(fe::sasl_initial_response("SCRAM-SHA-256", "n,,n=,r=x")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_sasl_initial_response(o, "M", ""); })),
            hex(fe::sasl_initial_response("M", "")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_sasl_response(o, "c=biws,r=x,p=y"); })),
            hex(fe::sasl_response("c=biws,r=x,p=y")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_query(o, "SELECT 1"); })), hex(fe::query("SELECT 1")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_query(o, ""); })), hex(fe::query("")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_terminate(o); })), hex(fe::terminate()));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_sync(o); })), hex(fe::sync()));
}

TEST(EncodeBytes, ParseAndClose) {
  const std::string oids = u32be(23) + u32be(25);
  EXPECT_EQ(hex(encoded([&](std::string& o) { p::encode_parse(o, "s1", "SELECT $1, $2", as_span(oids), 2); })),
            hex(fe::parse("s1", "SELECT $1, $2", {23, 25})));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_parse(o, "", "SELECT 1", {}, 0); })),
            hex(fe::parse("", "SELECT 1")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_close(o, 'S', "s1"); })), hex(fe::close('S', "s1")));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_close(o, 'P', ""); })), hex(fe::close('P', "")));
}

TEST(EncodeBytes, ParseCompleteCloseComplete) {
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_parse_complete(o); })), hex(be::parse_complete()));
  EXPECT_EQ(hex(encoded([](std::string& o) { p::encode_close_complete(o); })), hex(be::close_complete()));
}

TEST(EncodeBytes, EncodersAppend) {
  std::string out = "prefix";
  p::encode_sync(out);
  p::encode_query(out, "SELECT 1");
  p::encode_ready_for_query(out, p::transaction_status::idle);
  EXPECT_EQ(hex(out), hex("prefix" + fe::sync() + fe::query("SELECT 1") + be::ready_for_query('I')));
}

// ---- round trips -----------------------------------------------------------------------------------------

TEST(EncodeRoundTrip, ErrorResponse) {
  const std::string wire = encoded([](std::string& o) {
    p::encode_error_response(o, {.severity = "FATAL", .sqlstate = "28P01", .message = "auth failed",
                                 .detail = "d", .hint = "h"});
  });
  const auto f = backend_frame(wire);
  EXPECT_EQ(f.tag, 'E');
  p::error_fields e;
  ASSERT_FALSE(p::decode_error_response(f.body, e));
  EXPECT_EQ(e.severity, "FATAL");
  EXPECT_EQ(e.severity_v, "FATAL");
  EXPECT_EQ(e.code, "28P01");
  EXPECT_EQ(e.message, "auth failed");
  EXPECT_EQ(e.detail, "d");
  EXPECT_EQ(e.hint, "h");

  const std::string notice =
      encoded([](std::string& o) { p::encode_notice_response(o, {.severity = "NOTICE", .sqlstate = "00000", .message = "n"}); });
  const auto nf = backend_frame(notice);
  EXPECT_EQ(nf.tag, 'N');
  ASSERT_FALSE(p::decode_error_response(nf.body, e));
  EXPECT_EQ(e.message, "n");
  EXPECT_EQ(e.detail, "");
}

TEST(EncodeRoundTrip, Authentication) {
  p::authentication a;
  const std::string ok = encoded([](std::string& o) { p::encode_authentication_ok(o); });
  ASSERT_FALSE(p::decode_authentication(backend_frame(ok).body, a));
  EXPECT_EQ(a.type, p::auth_request::ok);

  const std::string clear = encoded([](std::string& o) { p::encode_authentication_cleartext_password(o); });
  ASSERT_FALSE(p::decode_authentication(backend_frame(clear).body, a));
  EXPECT_EQ(a.type, p::auth_request::cleartext_password);

  const std::array<std::uint8_t, 4> salt{1, 2, 3, 4};
  const std::string md5 = encoded([&](std::string& o) { p::encode_authentication_md5_password(o, salt); });
  ASSERT_FALSE(p::decode_authentication(backend_frame(md5).body, a));
  EXPECT_EQ(a.type, p::auth_request::md5_password);
  EXPECT_EQ(to_string(a.data), "\x01\x02\x03\x04");

  const std::string sasl =
      encoded([](std::string& o) { p::encode_authentication_sasl(o, {"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}); });
  ASSERT_FALSE(p::decode_authentication(backend_frame(sasl).body, a));
  EXPECT_EQ(a.type, p::auth_request::sasl);
  std::vector<std::string_view> mechanisms;
  ASSERT_FALSE(p::decode_sasl_mechanisms(a.data, mechanisms));
  EXPECT_EQ(mechanisms, (std::vector<std::string_view>{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}));

  const std::string cont = encoded([](std::string& o) { p::encode_authentication_sasl_continue(o, "r=a"); });
  ASSERT_FALSE(p::decode_authentication(backend_frame(cont).body, a));
  EXPECT_EQ(a.type, p::auth_request::sasl_continue);
  EXPECT_EQ(to_string(a.data), "r=a");

  const std::string fin = encoded([](std::string& o) { p::encode_authentication_sasl_final(o, "v=b"); });
  ASSERT_FALSE(p::decode_authentication(backend_frame(fin).body, a));
  EXPECT_EQ(a.type, p::auth_request::sasl_final);
  EXPECT_EQ(to_string(a.data), "v=b");
}

TEST(EncodeRoundTrip, ParameterStatusKeyDataReady) {
  const std::string ps = encoded([](std::string& o) { p::encode_parameter_status(o, "DateStyle", "ISO, MDY"); });
  p::parameter_status s;
  ASSERT_FALSE(p::decode_parameter_status(backend_frame(ps).body, s));
  EXPECT_EQ(s.name, "DateStyle");
  EXPECT_EQ(s.value, "ISO, MDY");

  const std::string kd = encoded([](std::string& o) { p::encode_backend_key_data(o, INT32_MAX, INT32_MIN); });
  p::backend_key_data k;
  ASSERT_FALSE(p::decode_backend_key_data(backend_frame(kd).body, k));
  EXPECT_EQ(k.process_id, INT32_MAX);
  EXPECT_EQ(k.secret_key, INT32_MIN);

  for (auto st : {p::transaction_status::idle, p::transaction_status::in_transaction, p::transaction_status::failed}) {
    const std::string rq = encoded([&](std::string& o) { p::encode_ready_for_query(o, st); });
    p::transaction_status got{};
    ASSERT_FALSE(p::decode_ready_for_query(backend_frame(rq).body, got));
    EXPECT_EQ(got, st);
  }
}

TEST(EncodeRoundTrip, StartupPackets) {
  const std::vector<std::pair<std::string_view, std::string_view>> params = {
      {"user", "alice"}, {"database", "app"}, {"options", "-c search_path=x"}};
  const std::string sm = encoded([&](std::string& o) { p::encode_startup_message(o, params); });
  p::startup_packet sp;
  ASSERT_FALSE(p::decode_startup(startup_frame(sm).body, sp));
  EXPECT_EQ(sp.kind, p::startup_kind::startup_message);
  EXPECT_EQ(sp.protocol_version, p::protocol_version_3_0);
  ASSERT_EQ(sp.parameters.size(), params.size());
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_EQ(sp.parameters[i], params[i]);

  const std::string ssl = encoded([](std::string& o) { p::encode_ssl_request(o); });
  ASSERT_FALSE(p::decode_startup(startup_frame(ssl).body, sp));
  EXPECT_EQ(sp.kind, p::startup_kind::ssl_request);

  const std::string cancel = encoded([](std::string& o) { p::encode_cancel_request(o, 99, -99); });
  ASSERT_FALSE(p::decode_startup(startup_frame(cancel).body, sp));
  EXPECT_EQ(sp.kind, p::startup_kind::cancel_request);
  EXPECT_EQ(sp.process_id, 99);
  EXPECT_EQ(sp.secret_key, -99);
}

TEST(EncodeRoundTrip, FrontendMessages) {
  std::string_view text;
  const std::string q = encoded([](std::string& o) { p::encode_query(o, "SELECT now()"); });
  ASSERT_FALSE(p::decode_query(frontend_frame(q).body, text));
  EXPECT_EQ(text, "SELECT now()");

  const std::string pw = encoded([](std::string& o) { p::encode_password_message(o, "hunter2"); });
  const auto pwf = frontend_frame(pw);
  EXPECT_EQ(pwf.tag, 'p');
  ASSERT_FALSE(p::decode_password_message(pwf.body, text));
  EXPECT_EQ(text, "hunter2");

  const std::string data = "n,,n=,r=\0\xff"s;
  const std::string sir = encoded([&](std::string& o) { p::encode_sasl_initial_response(o, "SCRAM-SHA-256", data); });
  p::sasl_initial_response s;
  ASSERT_FALSE(p::decode_sasl_initial_response(frontend_frame(sir).body, s));
  EXPECT_EQ(s.mechanism, "SCRAM-SHA-256");
  EXPECT_EQ(s.data, data);

  const std::string oids = u32be(23) + u32be(1043) + u32be(0);
  const std::string parse =
      encoded([&](std::string& o) { p::encode_parse(o, "stmt", "SELECT $1,$2,$3", as_span(oids), 3); });
  p::parse_message pm;
  ASSERT_FALSE(p::decode_parse(frontend_frame(parse).body, pm));
  EXPECT_EQ(pm.statement, "stmt");
  EXPECT_EQ(pm.query, "SELECT $1,$2,$3");
  EXPECT_EQ(pm.parameter_count, 3);
  EXPECT_EQ(to_string(pm.parameter_types), oids);

  for (std::uint8_t kind : {'S', 'P'}) {
    const std::string close = encoded([&](std::string& o) { p::encode_close(o, kind, "n"); });
    p::target_name t;
    ASSERT_FALSE(p::decode_close(frontend_frame(close).body, t));
    EXPECT_EQ(t.kind, kind);
    EXPECT_EQ(t.name, "n");
  }

  for (const auto& wire : {encoded([](std::string& o) { p::encode_sync(o); }),
                           encoded([](std::string& o) { p::encode_terminate(o); })}) {
    EXPECT_TRUE(frontend_frame(wire).body.empty());
  }
}

TEST(EncodeRoundTrip, ManyMessagesInOneBufferDrain) {
  std::string out;
  p::encode_authentication_ok(out);
  p::encode_parameter_status(out, "server_version", "16.0");
  p::encode_backend_key_data(out, 1, 2);
  p::encode_parse_complete(out);
  p::encode_close_complete(out);
  p::encode_ready_for_query(out, p::transaction_status::idle);
  const p::frame_reader reader(p::phase::tagged, p::direction::backend, 1 << 20);
  std::string tags;
  auto rest = as_span(out);
  for (;;) {
    const auto r = reader.next(rest);
    if (r.status != p::frame_status::complete) {
      EXPECT_EQ(r.status, p::frame_status::incomplete);
      break;
    }
    tags.push_back(static_cast<char>(r.msg.tag));
    rest = rest.subspan(r.msg.size);
  }
  EXPECT_EQ(tags, "RSK13Z");
  EXPECT_TRUE(rest.empty());
}

// ---- message_builder ------------------------------------------------------------------------------------

TEST(MessageBuilder, PatchesTheLengthWhenDone) {
  std::string out;
  {
    p::message_builder m(out, 'Q');
    EXPECT_EQ(out.size(), 5u);  // tag + placeholder
    m.cstring("SELECT 1");
  }
  EXPECT_EQ(hex(out), hex(fe::query("SELECT 1")));
}

TEST(MessageBuilder, EmptyBodyHasLengthFour) {
  std::string out;
  { p::message_builder m(out, 'S'); }
  EXPECT_EQ(hex(out), hex("S\0\0\0\x04"s));
}

TEST(MessageBuilder, UntaggedCountsItself) {
  std::string out;
  { p::message_builder(out, 0).i32(80877103); }
  EXPECT_EQ(hex(out), hex(fe::ssl_request()));
  std::string empty;
  { p::message_builder m(empty, 0); }
  EXPECT_EQ(hex(empty), hex(packet("")));
}

TEST(MessageBuilder, AllFieldKindsBigEndian) {
  std::string out;
  p::message_builder(out, 'd').i32(-2).i16(-3).u8(0xab).cstring("c").raw("r\0w"s);
  EXPECT_EQ(hex(out), hex(msg('d', i32be(-2) + i16be(-3) + "\xab" + cstr("c") + "r\0w"s)));
}

TEST(MessageBuilder, AppendsAfterExistingBytesAndAcrossReallocation) {
  std::string out = "xyz";
  const std::string big(100000, 'b');
  p::message_builder(out, 'd').raw(big);
  { p::message_builder(out, 'c'); }
  ASSERT_EQ(out.size(), 3 + 5 + big.size() + 5);
  EXPECT_EQ(out.substr(0, 3), "xyz");
  EXPECT_EQ(out.substr(3, 5), "d" + u32be(4 + 100000));
  EXPECT_EQ(out.substr(3 + 5 + big.size()), fe::copy_done());
}

TEST(MessageBuilder, SequentialBuildersInOneBuffer) {
  std::string out;
  {
    p::message_builder a(out, 'P');
    a.cstring("").cstring("SELECT 1").i16(0);
  }
  {
    p::message_builder b(out, 'B');
    b.cstring("").cstring("").i16(0).i16(0).i16(0);
  }
  { p::message_builder s(out, 'S'); }
  EXPECT_EQ(hex(out), hex(fe::parse("", "SELECT 1") + fe::bind("", "") + fe::sync()));
}

}  // namespace
}  // namespace pgfunnel::test
