// Pins the test byte builders (tests/support/bytes.hpp) to literal bytes, so they can be trusted to check the codec.
#include <gtest/gtest.h>

#include <string>

#include "bytes.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::string_literals;

TEST(Builders, Integers) {
  EXPECT_EQ(u32be(0x01020304), "\x01\x02\x03\x04"s);
  EXPECT_EQ(i32be(-1), "\xff\xff\xff\xff"s);
  EXPECT_EQ(u16be(0xabcd), "\xab\xcd"s);
  EXPECT_EQ(i16be(-2), "\xff\xfe"s);
  EXPECT_EQ(cstr("ab"), "ab\0"s);
  EXPECT_EQ(hex("\x00\x7f\xff"s), "00 7f ff");
}

TEST(Builders, FrontendLiterals) {
  EXPECT_EQ(fe::sync(), "S\0\0\0\x04"s);
  EXPECT_EQ(fe::terminate(), "X\0\0\0\x04"s);
  EXPECT_EQ(fe::query("SELECT 1"), "Q\0\0\0\x0dSELECT 1\0"s);
  EXPECT_EQ(fe::ssl_request(), "\0\0\0\x08\x04\xd2\x16\x2f"s);
  EXPECT_EQ(fe::gssenc_request(), "\0\0\0\x08\x04\xd2\x16\x30"s);
  EXPECT_EQ(fe::cancel(1, 2), "\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x01\0\0\0\x02"s);
  EXPECT_EQ(fe::startup({{"user", "x"}}), "\0\0\0\x10\0\x03\0\0user\0x\0\0"s);
  EXPECT_EQ(fe::parse("s", "q", {23}), "P\0\0\0\x0es\0q\0\0\x01\0\0\0\x17"s);
  EXPECT_EQ(fe::bind("", "s"), "B\0\0\0\x0d\0s\0\0\0\0\0\0\0"s);
  EXPECT_EQ(fe::bind("p", "s", {"1", std::nullopt}, {1}),
            "B\0\0\0\x19p\0s\0\0\0\0\x02\0\0\0\x01"s "1\xff\xff\xff\xff\0\x01\0\x01"s);
  EXPECT_EQ(fe::describe('S', "s"), "D\0\0\0\x07Ss\0"s);
  EXPECT_EQ(fe::close('P', ""), "C\0\0\0\x06P\0"s);
  EXPECT_EQ(fe::execute("", 5), "E\0\0\0\x09\0\0\0\0\x05"s);
  EXPECT_EQ(fe::password("pw"), "p\0\0\0\x07pw\0"s);
  EXPECT_EQ(fe::sasl_initial_response("M", "ab"), "p\0\0\0\x0cM\0\0\0\0\x02" "ab"s);
  EXPECT_EQ(fe::sasl_initial_response("M", std::nullopt), "p\0\0\0\x0aM\0\xff\xff\xff\xff"s);
}

TEST(Builders, BackendLiterals) {
  EXPECT_EQ(be::auth_ok(), "R\0\0\0\x08\0\0\0\0"s);
  EXPECT_EQ(be::auth_md5("abcd"), "R\0\0\0\x0c\0\0\0\x05" "abcd"s);
  EXPECT_EQ(be::auth_sasl({"SCRAM-SHA-256"}), "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"s);
  EXPECT_EQ(be::ready_for_query('I'), "Z\0\0\0\x05I"s);
  EXPECT_EQ(be::backend_key_data(7, -1), "K\0\0\0\x0c\0\0\0\x07\xff\xff\xff\xff"s);
  EXPECT_EQ(be::parameter_status("a", "b"), "S\0\0\0\x08" "a\0b\0"s);
  EXPECT_EQ(be::error({{'S', "ERROR"}, {'C', "42P01"}}), "E\0\0\0\x13SERROR\0C42P01\0\0"s);
  EXPECT_EQ(be::parse_complete(), "1\0\0\0\x04"s);
  EXPECT_EQ(be::close_complete(), "3\0\0\0\x04"s);
  EXPECT_EQ(be::command_complete("SELECT 1"), "C\0\0\0\x0dSELECT 1\0"s);
  EXPECT_EQ(be::data_row({"a", std::nullopt}), "D\0\0\0\x0f\0\x02\0\0\0\x01" "a\xff\xff\xff\xff"s);
}

TEST(Builders, RawLengths) {
  EXPECT_EQ(msg_with_length('Q', 2), "Q\0\0\0\x02"s);
  EXPECT_EQ(packet(""), "\0\0\0\x04"s);
  const std::string s = "xyz";
  EXPECT_EQ(to_string(as_span(s)), s);
  EXPECT_EQ(as_span(s).data(), reinterpret_cast<const std::uint8_t*>(s.data()));
}

}  // namespace
}  // namespace pgfunnel::test
