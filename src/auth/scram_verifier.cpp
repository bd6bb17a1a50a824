// Parsing, formatting and derivation of PostgreSQL SCRAM-SHA-256 verifiers (pg_authid.rolpassword).
#include "pgfunnel/auth/scram_verifier.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

#include "pgfunnel/auth/errc.hpp"

namespace pgfunnel::auth {
namespace {

constexpr std::string_view prefix = "SCRAM-SHA-256$";

bool parse_key(std::string_view text, scram_key& out) {
  std::vector<std::uint8_t> bytes;
  if (base64_decode(text, bytes) || bytes.size() != out.size()) return false;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

}  // namespace

bool looks_like_scram_verifier(std::string_view text) noexcept { return text.starts_with(prefix); }

std::error_code parse_scram_verifier(std::string_view text, scram_verifier& out) {
  if (!text.starts_with(prefix)) return errc::invalid_verifier;
  text.remove_prefix(prefix.size());

  const std::size_t dollar = text.find('$');
  if (dollar == std::string_view::npos) return errc::invalid_verifier;
  const std::string_view params = text.substr(0, dollar);
  const std::string_view keys = text.substr(dollar + 1);

  const std::size_t colon1 = params.find(':');
  const std::size_t colon2 = keys.find(':');
  if (colon1 == std::string_view::npos || colon2 == std::string_view::npos) return errc::invalid_verifier;
  const std::string_view iterations_text = params.substr(0, colon1);
  const std::string_view salt_text = params.substr(colon1 + 1);
  const std::string_view stored_text = keys.substr(0, colon2);
  const std::string_view server_text = keys.substr(colon2 + 1);

  // from_chars alone would accept a leading '-' for signed types and stop at the first non-digit;
  // insist on digits only, consumed in full.
  if (iterations_text.empty() ||
      !std::all_of(iterations_text.begin(), iterations_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return errc::invalid_verifier;
  }
  std::uint32_t iterations = 0;
  const auto [end, conv] = std::from_chars(iterations_text.data(), iterations_text.data() + iterations_text.size(), iterations);
  if (conv != std::errc{} || end != iterations_text.data() + iterations_text.size() || iterations == 0 ||
      iterations > static_cast<std::uint32_t>(INT_MAX)) {
    return errc::invalid_verifier;
  }

  scram_verifier v;
  v.iterations = iterations;
  if (base64_decode(salt_text, v.salt) || v.salt.empty()) return errc::invalid_verifier;
  if (!parse_key(stored_text, v.stored_key) || !parse_key(server_text, v.server_key)) {
    return errc::invalid_verifier;
  }
  out = std::move(v);
  return {};
}

std::string format_scram_verifier(const scram_verifier& verifier) {
  std::string out(prefix);
  out += std::to_string(verifier.iterations);
  out += ':';
  out += base64_encode(verifier.salt);
  out += '$';
  out += base64_encode(verifier.stored_key);
  out += ':';
  out += base64_encode(verifier.server_key);
  return out;
}

std::error_code make_scram_verifier(std::string_view password, std::span<const std::uint8_t> salt,
                                    std::uint32_t iterations, scram_verifier& out) {
  if (salt.empty()) return errc::invalid_salt;
  scram_keys keys;
  if (auto ec = scram_derive_keys(password, salt, iterations, keys)) return ec;
  out.iterations = iterations;
  out.salt.assign(salt.begin(), salt.end());
  out.stored_key = keys.stored_key;
  out.server_key = keys.server_key;
  return {};
}

std::error_code make_scram_verifier(std::string_view password, scram_verifier& out) {
  std::array<std::uint8_t, scram_default_salt_length> salt{};
  if (auto ec = random_bytes(salt)) return ec;
  return make_scram_verifier(password, salt, scram_default_iterations, out);
}

}  // namespace pgfunnel::auth
