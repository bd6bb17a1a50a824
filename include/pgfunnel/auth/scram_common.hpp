// SCRAM-SHA-256 building blocks shared by client, server and verifier: base64, H/HMAC/Hi, nonces, attributes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pgfunnel::auth {

inline constexpr std::string_view scram_sha_256_name = "SCRAM-SHA-256";
inline constexpr std::string_view scram_sha_256_plus_name = "SCRAM-SHA-256-PLUS";
inline constexpr std::string_view tls_server_end_point_name = "tls-server-end-point";

inline constexpr std::size_t scram_key_length = 32;  // SHA-256 output
// 18 raw bytes give a 24-character base64 nonce without padding, as PostgreSQL uses.
inline constexpr std::size_t scram_raw_nonce_length = 18;
inline constexpr std::size_t scram_default_salt_length = 16;
inline constexpr std::uint32_t scram_default_iterations = 4096;

using scram_key = std::array<std::uint8_t, scram_key_length>;

// The three keys a password yields for one salt and iteration count (RFC 5802 section 3).
struct scram_keys {
  scram_key client_key{};  // HMAC(SaltedPassword, "Client Key")
  scram_key stored_key{};  // H(ClientKey)
  scram_key server_key{};  // HMAC(SaltedPassword, "Server Key")
};

// Standard base64 with padding (RFC 4648 section 4), as SCRAM and PostgreSQL use it.
std::string base64_encode(std::span<const std::uint8_t> data);
std::string base64_encode(std::string_view data);
// Strict: no whitespace, length a multiple of 4, padding only at the end, unused bits zero.
// Empty input is valid.
std::error_code base64_decode(std::string_view text, std::vector<std::uint8_t>& out);

std::span<const std::uint8_t> as_bytes(std::string_view text) noexcept;

std::error_code sha256(std::span<const std::uint8_t> data, scram_key& out);
std::error_code hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data,
                            scram_key& out);
// Hi() of RFC 5802 is PBKDF2-HMAC-SHA-256 with a 32-byte output. `password` is used as given.
std::error_code scram_hi(std::string_view password, std::span<const std::uint8_t> salt,
                         std::uint32_t iterations, scram_key& out);
// SASLprep (see saslprep.hpp) is applied to `password` first, as PostgreSQL does.
std::error_code scram_derive_keys(std::string_view password, std::span<const std::uint8_t> salt,
                                  std::uint32_t iterations, scram_keys& out);

scram_key xor_keys(const scram_key& a, const scram_key& b) noexcept;
// Constant-time equality, so a comparison does not leak how many leading bytes matched.
bool keys_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

std::error_code random_bytes(std::span<std::uint8_t> out);
// A fresh nonce: base64 of scram_raw_nonce_length random bytes.
std::error_code scram_generate_nonce(std::string& out);

// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','. True for "" too.
bool scram_is_printable(std::string_view text) noexcept;
// saslname escaping for the n= attribute: ',' -> "=2C", '=' -> "=3D".
std::string scram_escape_username(std::string_view user);

// Reads the attribute "<name>=<value>" at the front of `input`, consuming the value and the ','
// after it (if any). Fails with malformed_message if the next attribute has another name.
std::error_code scram_read_attribute(std::string_view& input, char name, std::string_view& value);
// As above for whatever attribute comes next; its name must be an ASCII letter.
std::error_code scram_read_any_attribute(std::string_view& input, char& name, std::string_view& value);

}  // namespace pgfunnel::auth
