// Tests for the SCRAM primitives: base64, Hi/HMAC key derivation, printable check, attribute reader.
#include <gtest/gtest.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/scram_common.hpp"

namespace pgfunnel::auth {
namespace {

std::string decode_to_string(std::string_view b64) {
  std::vector<std::uint8_t> out;
  EXPECT_FALSE(base64_decode(b64, out)) << b64;
  return {out.begin(), out.end()};
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(decode_to_string(encoded), plain);
  }
  EXPECT_EQ(base64_encode(std::string_view("n,,")), "biws");
}

TEST(Base64, AllByteValuesRoundTrip) {
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> back;
  ASSERT_FALSE(base64_decode(base64_encode(all), back));
  EXPECT_EQ(back, all);
}

TEST(Base64, RejectsMalformedInput) {
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "====", "Zm9v=", "Zm 9", "Zm9v\n", "Z=g=", "Zg==Zg==", "Zm9*",
                               "=Zm9", "Zh==", "Zm9=", "Zm8/Zh=="}) {
    std::vector<std::uint8_t> out;
    EXPECT_EQ(base64_decode(bad, out), errc::invalid_base64) << bad;
    EXPECT_TRUE(out.empty());
  }
}

TEST(ScramKeys, Rfc7677SaltedPasswordAndClientKey) {
  std::vector<std::uint8_t> salt;
  ASSERT_FALSE(base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", salt));
  scram_key salted{};
  ASSERT_FALSE(scram_hi("pencil", salt, 4096, salted));
  // PBKDF2-HMAC-SHA-256 computed independently with Python's hashlib.pbkdf2_hmac.
  std::string hex;
  for (auto b : salted) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
  EXPECT_EQ(hex, "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");

  scram_keys keys;
  ASSERT_FALSE(scram_derive_keys("pencil", salt, 4096, keys));
  EXPECT_EQ(base64_encode(keys.client_key), "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos=");
  EXPECT_EQ(base64_encode(keys.stored_key), "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
  EXPECT_EQ(base64_encode(keys.server_key), "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
}

TEST(ScramKeys, HiRejectsZeroIterations) {
  scram_key out{};
  const std::uint8_t salt[] = {1, 2, 3};
  EXPECT_EQ(scram_hi("x", salt, 0, out), errc::invalid_iteration_count);
}

TEST(ScramKeys, HmacWithEmptyKeyWorks) {
  scram_key out{};
  EXPECT_FALSE(hmac_sha256({}, as_bytes("data"), out));
  // HMAC-SHA-256("", "data"), computed with Python's hmac module.
  EXPECT_EQ(base64_encode(out), "5SjE2Z5hd/WEH3EqFDuQhDKZpKoYGgZQFCLZyoYr0qU=");
}

TEST(ScramNonce, GeneratedNoncesArePrintableAndDistinct) {
  std::string a, b;
  ASSERT_FALSE(scram_generate_nonce(a));
  ASSERT_FALSE(scram_generate_nonce(b));
  EXPECT_EQ(a.size(), 24u);
  EXPECT_TRUE(scram_is_printable(a));
  EXPECT_NE(a, b);
}

TEST(ScramPrintable, ExcludesCommaSpaceAndControls) {
  EXPECT_TRUE(scram_is_printable("abc!~%$)"));
  EXPECT_FALSE(scram_is_printable("a,b"));
  EXPECT_FALSE(scram_is_printable("a b"));
  EXPECT_FALSE(scram_is_printable("a\x7f"));
  EXPECT_FALSE(scram_is_printable("\xc3\xa9"));
}

TEST(ScramUsername, Escaping) {
  EXPECT_EQ(scram_escape_username("a,b=c"), "a=2Cb=3Dc");
  EXPECT_EQ(scram_escape_username(""), "");
}

TEST(ScramAttributes, ReadsInOrder) {
  std::string_view in = "r=abc,s=QSE=,i=4096";
  std::string_view v;
  ASSERT_FALSE(scram_read_attribute(in, 'r', v));
  EXPECT_EQ(v, "abc");
  ASSERT_FALSE(scram_read_attribute(in, 's', v));
  EXPECT_EQ(v, "QSE=");  // '=' inside a value is fine
  char name = 0;
  ASSERT_FALSE(scram_read_any_attribute(in, name, v));
  EXPECT_EQ(name, 'i');
  EXPECT_EQ(v, "4096");
  EXPECT_TRUE(in.empty());
}

TEST(ScramAttributes, RejectsWrongNameAndSyntax) {
  std::string_view v;
  char name = 0;
  for (std::string_view bad : {"s=abc", "r", "rabc", "=abc", "", "1=x"}) {
    std::string_view in = bad;
    EXPECT_EQ(scram_read_attribute(in, 'r', v), errc::malformed_message) << bad;
  }
  std::string_view trailing = "r=abc,";
  EXPECT_EQ(scram_read_any_attribute(trailing, name, v), errc::malformed_message);
  std::string_view empty_value = "r=,n=x";
  ASSERT_FALSE(scram_read_attribute(empty_value, 'r', v));
  EXPECT_EQ(v, "");
}

}  // namespace
}  // namespace pgfunnel::auth
