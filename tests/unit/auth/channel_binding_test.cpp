// Tests for the RFC 5929 tls-server-end-point hash with certificates generated on the fly.
#include <gtest/gtest.h>

#include <memory>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pgfunnel/auth/channel_binding.hpp"
#include "pgfunnel/auth/errc.hpp"

namespace pgfunnel::auth {
namespace {

// A self-signed certificate signed with `md` (nullptr for key types without a separate hash).
std::vector<std::uint8_t> make_cert(EVP_PKEY* key, const EVP_MD* md) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  EXPECT_TRUE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("pgfunnel-test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key);
  EXPECT_GT(X509_sign(cert.get(), key, md), 0);
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  EXPECT_GT(len, 0);
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::vector<std::uint8_t> digest(const std::vector<std::uint8_t>& data, const EVP_MD* md) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), buf, &len, md, nullptr), 1);
  return {buf, buf + len};
}

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

TEST(ChannelBinding, UsesTheSignatureHash) {
  pkey_ptr key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  for (const EVP_MD* md : {EVP_sha256(), EVP_sha384(), EVP_sha512()}) {
    const auto der = make_cert(key.get(), md);
    std::vector<std::uint8_t> hash;
    ASSERT_FALSE(tls_server_end_point_hash(der, hash));
    EXPECT_EQ(hash, digest(der, md)) << EVP_MD_get0_name(md);
  }
}

TEST(ChannelBinding, Sha1SignatureUpgradesToSha256) {
  pkey_ptr key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  const auto der = make_cert(key.get(), EVP_sha1());
  std::vector<std::uint8_t> hash;
  ASSERT_FALSE(tls_server_end_point_hash(der, hash));
  EXPECT_EQ(hash, digest(der, EVP_sha256()));
  EXPECT_EQ(hash.size(), 32u);
}

TEST(ChannelBinding, RsaSha384) {
  pkey_ptr key(EVP_RSA_gen(2048));
  ASSERT_TRUE(key);
  const auto der = make_cert(key.get(), EVP_sha384());
  std::vector<std::uint8_t> hash;
  ASSERT_FALSE(tls_server_end_point_hash(der, hash));
  EXPECT_EQ(hash, digest(der, EVP_sha384()));
}

TEST(ChannelBinding, Ed25519HasNoUsableHash) {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_TRUE(key);
  const auto der = make_cert(key.get(), nullptr);
  std::vector<std::uint8_t> hash;
  EXPECT_EQ(tls_server_end_point_hash(der, hash), errc::unsupported_signature_algorithm);
}

TEST(ChannelBinding, RejectsGarbage) {
  std::vector<std::uint8_t> hash;
  EXPECT_EQ(tls_server_end_point_hash({}, hash), errc::invalid_certificate);
  const std::vector<std::uint8_t> junk = {0x30, 0x03, 0x01, 0x02, 0x03};
  EXPECT_EQ(tls_server_end_point_hash(junk, hash), errc::invalid_certificate);
  pkey_ptr key(EVP_EC_gen("P-256"));
  auto der = make_cert(key.get(), EVP_sha256());
  der.push_back(0);
  EXPECT_EQ(tls_server_end_point_hash(der, hash), errc::invalid_certificate);
  der.resize(der.size() / 2);
  EXPECT_EQ(tls_server_end_point_hash(der, hash), errc::invalid_certificate);
}

}  // namespace
}  // namespace pgfunnel::auth
