// MD5 password hashing and challenge-response as PostgreSQL defines it (via OpenSSL EVP).
#include "pgfunnel/auth/md5.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"

namespace pgfunnel::auth {
namespace {

constexpr std::size_t md5_text_length = 35;  // "md5" + 32 hex digits

// hex(md5(first + second)), or "" if the digest is unavailable.
std::string md5_hex(std::string_view first, std::string_view second) {
  std::string out;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return out;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool ok = EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, first.data(), first.size()) == 1 &&
                  EVP_DigestUpdate(ctx, second.data(), second.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == 16;
  EVP_MD_CTX_free(ctx);
  if (!ok) return out;
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(32);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0F];
  }
  return out;
}

std::string_view salt_view(const md5_salt& salt) noexcept {
  return {reinterpret_cast<const char*>(salt.data()), salt.size()};
}

}  // namespace

std::string md5_password_hash(std::string_view user, std::string_view password) {
  std::string hex = md5_hex(password, user);
  return hex.empty() ? hex : "md5" + hex;
}

std::string md5_response_from_hash(std::string_view stored_hash, md5_salt salt) {
  if (!is_md5_hash(stored_hash)) return {};
  // The inner hex digest, without the "md5" prefix, is what gets salted.
  std::string hex = md5_hex(stored_hash.substr(3), salt_view(salt));
  return hex.empty() ? hex : "md5" + hex;
}

std::string md5_response(std::string_view user, std::string_view password, md5_salt salt) {
  std::string stored = md5_password_hash(user, password);
  if (stored.empty()) return stored;
  std::string response = md5_response_from_hash(stored, salt);
  OPENSSL_cleanse(stored.data(), stored.size());
  return response;
}

bool is_md5_hash(std::string_view secret) noexcept {
  return secret.size() == md5_text_length && secret.starts_with("md5") &&
         std::all_of(secret.begin() + 3, secret.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::error_code md5_verify(std::string_view user, std::string_view secret, md5_salt salt,
                           std::string_view client_response) {
  if (looks_like_scram_verifier(secret)) return errc::unsupported_mechanism;
  // PostgreSQL never lets an empty password authenticate; an empty secret here almost certainly
  // means "no password configured", and accepting md5("" + user) would let anyone in.
  if (secret.empty()) return errc::invalid_proof;
  std::string expected = is_md5_hash(secret) ? md5_response_from_hash(secret, salt) : md5_response(user, secret, salt);
  if (expected.empty()) return errc::crypto_failure;
  // Both sides are 35 bytes when well-formed; a length difference reveals nothing about the secret.
  const bool match = client_response.size() == expected.size() &&
                     CRYPTO_memcmp(client_response.data(), expected.data(), expected.size()) == 0;
  OPENSSL_cleanse(expected.data(), expected.size());
  return match ? std::error_code{} : make_error_code(errc::invalid_proof);
}

}  // namespace pgfunnel::auth
