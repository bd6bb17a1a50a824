// Tests for SASLprep of passwords: ASCII untouched, RFC 4013 mapping, PostgreSQL's raw fallback.
#include <gtest/gtest.h>

#include "pgfunnel/auth/saslprep.hpp"

namespace pgfunnel::auth {
namespace {

TEST(Saslprep, PrintableAsciiIsUnchanged) {
  std::string all;
  for (char c = 0x20; c <= 0x7E; ++c) all += c;
  EXPECT_EQ(saslprep(all), all);
  EXPECT_EQ(saslprep("pencil"), "pencil");
  EXPECT_EQ(saslprep(""), "");
}

TEST(Saslprep, AsciiControlCharactersAreKeptLikePostgres) {
  // SASLprep prohibits them, and PostgreSQL then falls back to the raw bytes: same result.
  EXPECT_EQ(saslprep(std::string_view("a\tb\x7f\x01", 5)), std::string("a\tb\x7f\x01", 5));
}

TEST(Saslprep, MapsNonAsciiSpacesToSpace) {
  EXPECT_EQ(saslprep("pass\xC2\xA0word"), "pass word");          // U+00A0
  EXPECT_EQ(saslprep("a\xE3\x80\x80" "b"), "a b");                // U+3000
  EXPECT_EQ(saslprep("a\xE2\x80\x8B" "b"), "a b");                // U+200B: space table wins, as in PostgreSQL
}

TEST(Saslprep, RemovesCommonlyMappedToNothing) {
  EXPECT_EQ(saslprep("pa\xC2\xADss"), "pass");                    // U+00AD soft hyphen
  EXPECT_EQ(saslprep("p\xEF\xBB\xBFw\xE2\x81\xA0" "d"), "pwd");  // U+FEFF, U+2060
  EXPECT_EQ(saslprep("x\xEF\xB8\x8F"), "x");                      // U+FE0F variation selector
}

TEST(Saslprep, KeepsOtherNonAscii) {
  EXPECT_EQ(saslprep("caf\xC3\xA9"), "caf\xC3\xA9");                         // U+00E9
  EXPECT_EQ(saslprep("\xD0\xBF\xD0\xB0\xD1\x80\xD0\xBE\xD0\xBB\xD1\x8C"), "\xD0\xBF\xD0\xB0\xD1\x80\xD0\xBE\xD0\xBB\xD1\x8C");
}

TEST(Saslprep, ProhibitedCharactersFallBackToRawBytes) {
  // U+00A0 would be mapped, but U+0085 (C.2.2) makes the whole string prohibited: raw bytes.
  const std::string with_control = "a\xC2\xA0\xC2\x85";
  EXPECT_EQ(saslprep(with_control), with_control);
  const std::string private_use = "a\xC2\xA0\xEE\x80\x80";  // U+E000 (C.3)
  EXPECT_EQ(saslprep(private_use), private_use);
  const std::string noncharacter = "a\xC2\xA0\xF0\x9F\xBF\xBE";  // U+1FFFE (C.4)
  EXPECT_EQ(saslprep(noncharacter), noncharacter);
  const std::string ascii_control = "\x01\xC2\xA0";
  EXPECT_EQ(saslprep(ascii_control), ascii_control);
}

TEST(Saslprep, InvalidUtf8FallsBackToRawBytes) {
  for (std::string bad : {std::string("\xC2\xA0\xFF"), std::string("\xC2\xA0\xC0\xAF"),  // overlong '/'
                          std::string("\xC2\xA0\xED\xA0\x80"),                          // surrogate
                          std::string("\xC2\xA0\xF4\x90\x80\x80"),                      // > U+10FFFF
                          std::string("\xC2\xA0\xE2\x82")}) {                           // truncated
    EXPECT_EQ(saslprep(bad), bad);
  }
}

TEST(Saslprep, EmptyAfterMappingFallsBackToRawBytes) {
  EXPECT_EQ(saslprep("\xC2\xAD"), "\xC2\xAD");
}

}  // namespace
}  // namespace pgfunnel::auth
