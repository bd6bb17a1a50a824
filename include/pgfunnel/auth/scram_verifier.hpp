// PostgreSQL's stored SCRAM-SHA-256 secret ("verifier"): parse, format and derive from a password.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pgfunnel/auth/scram_common.hpp"

namespace pgfunnel::auth {

// "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>"
struct scram_verifier {
  std::uint32_t iterations = 0;
  std::vector<std::uint8_t> salt;
  scram_key stored_key{};
  scram_key server_key{};

  friend bool operator==(const scram_verifier&, const scram_verifier&) = default;
};

// Fails with errc::invalid_verifier on any deviation from the format (wrong prefix, iterations not a
// positive decimal below 2^31, empty or non-base64 salt, keys not 32 bytes of base64).
std::error_code parse_scram_verifier(std::string_view text, scram_verifier& out);
std::string format_scram_verifier(const scram_verifier& verifier);
// True when `text` starts like a SCRAM verifier (the check PostgreSQL's get_password_type makes
// first); it may still fail to parse.
bool looks_like_scram_verifier(std::string_view text) noexcept;

// Derive a verifier from a plaintext password (SASLprep applied, as PostgreSQL does).
std::error_code make_scram_verifier(std::string_view password, std::span<const std::uint8_t> salt,
                                    std::uint32_t iterations, scram_verifier& out);
// Same with a random scram_default_salt_length-byte salt and scram_default_iterations.
std::error_code make_scram_verifier(std::string_view password, scram_verifier& out);

}  // namespace pgfunnel::auth
