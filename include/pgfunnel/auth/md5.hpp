// PostgreSQL's legacy MD5 password authentication: stored hash, salted response, and its check.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace pgfunnel::auth {

using md5_salt = std::array<std::uint8_t, 4>;

// "md5" + hex(md5(password + user)): what pg_authid.rolpassword holds for an MD5 password.
// Returns "" only if OpenSSL cannot compute MD5 (e.g. a FIPS-only provider).
std::string md5_password_hash(std::string_view user, std::string_view password);
// The PasswordMessage a client sends for AuthenticationMD5Password(salt):
// "md5" + hex(md5(hex(md5(password + user)) + salt)). Returns "" as above.
std::string md5_response(std::string_view user, std::string_view password, md5_salt salt);
// The same response computed from the stored hash alone (an MD5 hash is password-equivalent).
// `stored_hash` must satisfy is_md5_hash(); returns "" otherwise.
std::string md5_response_from_hash(std::string_view stored_hash, md5_salt salt);

// True for "md5" followed by 32 lowercase hex digits (PostgreSQL's test for a stored MD5 hash).
bool is_md5_hash(std::string_view secret) noexcept;

// Checks a client's response (PasswordMessage contents without the trailing NUL) against `secret`:
// a stored MD5 hash if is_md5_hash(secret), else a plaintext password. Constant-time comparison.
// errc::invalid_proof on mismatch or an empty secret (an empty password never authenticates, as in
// PostgreSQL); errc::unsupported_mechanism if `secret` is a SCRAM verifier (which
// cannot answer an MD5 challenge: use SCRAM for that user, as PostgreSQL does).
std::error_code md5_verify(std::string_view user, std::string_view secret, md5_salt salt,
                           std::string_view client_response);

}  // namespace pgfunnel::auth
