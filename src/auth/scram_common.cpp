// SCRAM primitives on top of OpenSSL EVP: base64, SHA-256, HMAC, PBKDF2, random nonces, attribute reader.
#include "pgfunnel/auth/scram_common.hpp"

#include <climits>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/saslprep.hpp"

namespace pgfunnel::auth {
namespace {

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Fetched once: EVP_MAC objects are reference counted and safe to share between threads, and
// fetching per call would take the provider store's lock on every HMAC.
EVP_MAC* hmac_algorithm() noexcept {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += base64_alphabet[(v >> 6) & 63];
    out += base64_alphabet[v & 63];
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t{data[i]} << 16;
    if (rest == 2) v |= std::uint32_t{data[i + 1]} << 8;
    out += base64_alphabet[(v >> 18) & 63];
    out += base64_alphabet[(v >> 12) & 63];
    out += rest == 2 ? base64_alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_encode(std::string_view data) { return base64_encode(as_bytes(data)); }

std::error_code base64_decode(std::string_view text, std::vector<std::uint8_t>& out) {
  out.clear();
  if (text.size() % 4 != 0) return errc::invalid_base64;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t v = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (last && j >= 4 - padding) {
        continue;  // a trailing '=' (checked by the padding count above)
      }
      const int d = base64_value(c);
      if (d < 0) return out.clear(), errc::invalid_base64;  // includes '=' in the middle
      v |= static_cast<std::uint32_t>(d) << (18 - 6 * j);
    }
    // Non-canonical encodings (unused low bits set before the padding) decode to the same bytes as
    // the canonical one; refuse them so each byte string has exactly one accepted encoding.
    if (last && ((padding == 2 && (v & 0xFFFF) != 0) || (padding == 1 && (v & 0xFF) != 0))) {
      return out.clear(), errc::invalid_base64;
    }
    out.push_back(static_cast<std::uint8_t>(v >> 16));
    if (!last || padding < 2) out.push_back(static_cast<std::uint8_t>(v >> 8));
    if (!last || padding < 1) out.push_back(static_cast<std::uint8_t>(v));
  }
  return {};
}

std::span<const std::uint8_t> as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::error_code sha256(std::span<const std::uint8_t> data, scram_key& out) {
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    return errc::crypto_failure;
  }
  return {};
}

std::error_code hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data,
                            scram_key& out) {
  EVP_MAC* mac = hmac_algorithm();
  if (mac == nullptr) return errc::crypto_failure;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (ctx == nullptr) return errc::crypto_failure;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  // A null key pointer means "keep the previous key" to OpenSSL, so an empty key still gets one.
  static const std::uint8_t empty_key = 0;
  const std::uint8_t* key_data = key.empty() ? &empty_key : key.data();
  std::size_t len = 0;
  const bool ok = EVP_MAC_init(ctx, key_data, key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  EVP_MAC_CTX_free(ctx);
  return ok ? std::error_code{} : make_error_code(errc::crypto_failure);
}

std::error_code scram_hi(std::string_view password, std::span<const std::uint8_t> salt,
                         std::uint32_t iterations, scram_key& out) {
  if (iterations == 0 || iterations > static_cast<std::uint32_t>(INT_MAX)) {
    return errc::invalid_iteration_count;
  }
  if (password.size() > static_cast<std::size_t>(INT_MAX) || salt.size() > static_cast<std::size_t>(INT_MAX)) {
    return errc::crypto_failure;
  }
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    return errc::crypto_failure;
  }
  return {};
}

std::error_code scram_derive_keys(std::string_view password, std::span<const std::uint8_t> salt,
                                  std::uint32_t iterations, scram_keys& out) {
  std::string prepared = saslprep(password);
  scram_key salted{};
  std::error_code ec = scram_hi(prepared, salt, iterations, salted);
  OPENSSL_cleanse(prepared.data(), prepared.size());
  if (!ec) ec = hmac_sha256(salted, as_bytes("Client Key"), out.client_key);
  if (!ec) ec = hmac_sha256(salted, as_bytes("Server Key"), out.server_key);
  if (!ec) ec = sha256(out.client_key, out.stored_key);
  OPENSSL_cleanse(salted.data(), salted.size());
  return ec;
}

scram_key xor_keys(const scram_key& a, const scram_key& b) noexcept {
  scram_key out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

bool keys_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::error_code random_bytes(std::span<std::uint8_t> out) {
  if (out.size() > static_cast<std::size_t>(INT_MAX)) return errc::crypto_failure;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) return errc::crypto_failure;
  return {};
}

std::error_code scram_generate_nonce(std::string& out) {
  std::array<std::uint8_t, scram_raw_nonce_length> raw{};
  if (auto ec = random_bytes(raw)) return ec;
  out = base64_encode(raw);
  return {};
}

bool scram_is_printable(std::string_view text) noexcept {
  for (const char c : text) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

std::string scram_escape_username(std::string_view user) {
  std::string out;
  out.reserve(user.size());
  for (const char c : user) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

std::error_code scram_read_any_attribute(std::string_view& input, char& name, std::string_view& value) {
  if (input.size() < 2 || !is_alpha(input[0]) || input[1] != '=') return errc::malformed_message;
  name = input[0];
  input.remove_prefix(2);
  const std::size_t comma = input.find(',');
  if (comma == std::string_view::npos) {
    value = input;
    input = {};
  } else {
    value = input.substr(0, comma);
    input.remove_prefix(comma + 1);
    // "a=1," with nothing after it: a dangling separator is a syntax error, not an empty attribute.
    if (input.empty()) return errc::malformed_message;
  }
  return {};
}

std::error_code scram_read_attribute(std::string_view& input, char name, std::string_view& value) {
  if (input.size() < 2 || input[0] != name || input[1] != '=') return errc::malformed_message;
  char read_name = 0;
  return scram_read_any_attribute(input, read_name, value);
}

}  // namespace pgfunnel::auth
