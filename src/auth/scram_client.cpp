// SCRAM-SHA-256(-PLUS) client state machine: builds the proof from a password or passthrough keys.
#include "pgfunnel/auth/scram_client.hpp"

#include <algorithm>
#include <charconv>

#include <openssl/crypto.h>

#include "pgfunnel/auth/errc.hpp"

namespace pgfunnel::auth {

scram_client::scram_client(std::string user, std::string password, std::vector<std::uint8_t> cb_data,
                           std::string client_nonce)
    : user_(std::move(user)),
      password_(password),
      cb_data_(std::move(cb_data)),
      use_channel_binding_(!cb_data_.empty()),
      cbind_flag_(cb_data_.empty() ? 'n' : 'p'),
      client_nonce_(std::move(client_nonce)) {
  // Copied rather than moved, so the parameter can be wiped: a moved-from short string would keep
  // its bytes in place.
  OPENSSL_cleanse(password.data(), password.size());
}

scram_client::scram_client(std::string user, scram_client_keys keys, std::vector<std::uint8_t> cb_data,
                           std::string client_nonce)
    : user_(std::move(user)),
      passthrough_(true),
      keys_(keys),
      cb_data_(std::move(cb_data)),
      use_channel_binding_(!cb_data_.empty()),
      cbind_flag_(cb_data_.empty() ? 'n' : 'p'),
      client_nonce_(std::move(client_nonce)) {
  OPENSSL_cleanse(keys.client_key.data(), keys.client_key.size());
  OPENSSL_cleanse(keys.server_key.data(), keys.server_key.size());
}

scram_client::~scram_client() {
  OPENSSL_cleanse(password_.data(), password_.size());
  OPENSSL_cleanse(keys_.client_key.data(), keys_.client_key.size());
  OPENSSL_cleanse(keys_.server_key.data(), keys_.server_key.size());
}

std::error_code scram_client::fail(std::error_code ec) noexcept {
  if (state_ != state::done) state_ = state::failed;
  return ec;
}

std::error_code scram_client::select_mechanism(const std::vector<std::string>& offered, std::string& mechanism_out) {
  if (state_ != state::initial) return fail(errc::out_of_order);
  const auto has = [&](std::string_view name) { return std::find(offered.begin(), offered.end(), name) != offered.end(); };
  if (!cb_data_.empty() && has(scram_sha_256_plus_name)) {
    use_channel_binding_ = true;
    cbind_flag_ = 'p';
  } else if (has(scram_sha_256_name)) {
    use_channel_binding_ = false;
    cbind_flag_ = cb_data_.empty() ? 'n' : 'y';
  } else {
    return fail(errc::unsupported_mechanism);
  }
  mechanism_out = mechanism();
  return {};
}

std::string_view scram_client::mechanism() const noexcept {
  return use_channel_binding_ ? scram_sha_256_plus_name : scram_sha_256_name;
}

std::string scram_client::gs2_header() const {
  if (use_channel_binding_) return "p=" + std::string(tls_server_end_point_name) + ",,";
  return std::string(1, cbind_flag_) + ",,";
}

std::error_code scram_client::client_first(std::string& client_first_out) {
  if (state_ != state::initial) return fail(errc::out_of_order);
  if (client_nonce_.empty()) {
    if (auto ec = scram_generate_nonce(client_nonce_)) return fail(ec);
  } else if (!scram_is_printable(client_nonce_)) {
    return fail(errc::invalid_nonce);
  }
  // PostgreSQL ignores the user name here (libpq even sends "n="), but other servers do not.
  client_first_bare_ = "n=" + scram_escape_username(user_) + ",r=" + client_nonce_;
  client_first_out = gs2_header() + client_first_bare_;
  state_ = state::sent_client_first;
  return {};
}

std::error_code scram_client::handle_server_first(std::string_view server_first_message, std::string& client_final_out) {
  if (state_ != state::sent_client_first) return fail(errc::out_of_order);
  if (server_first_message.find('\0') != std::string_view::npos) return fail(errc::malformed_message);

  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
  std::string_view input = server_first_message;
  if (input.starts_with("m=")) return fail(errc::extensions_not_supported);
  std::string_view nonce;
  if (auto ec = scram_read_attribute(input, 'r', nonce)) return fail(ec);
  // The server must extend our nonce with its own part, not just echo it.
  if (!nonce.starts_with(client_nonce_) || nonce.size() == client_nonce_.size()) return fail(errc::nonce_mismatch);
  if (!scram_is_printable(nonce)) return fail(errc::invalid_nonce);

  std::string_view salt_b64;
  if (auto ec = scram_read_attribute(input, 's', salt_b64)) return fail(ec);
  std::vector<std::uint8_t> salt;
  if (auto ec = base64_decode(salt_b64, salt)) return fail(ec);
  if (salt.empty()) return fail(errc::invalid_salt);

  std::string_view iterations_text;
  if (auto ec = scram_read_attribute(input, 'i', iterations_text)) return fail(ec);
  std::uint32_t iterations = 0;
  const char* const first = iterations_text.data();
  const char* const last = first + iterations_text.size();
  const auto [end, conv] = std::from_chars(first, last, iterations);
  if (iterations_text.empty() || conv != std::errc{} || end != last ||
      iterations == 0 || iterations > max_iterations_) {
    return fail(errc::invalid_iteration_count);
  }
  // libpq refuses trailing extensions too; PostgreSQL never sends any.
  if (!input.empty()) return fail(errc::malformed_message);

  if (passthrough_) {
    // Keys from another verifier cannot produce a valid proof: say so rather than fail the proof.
    if (!keys_equal(salt, keys_.salt) || iterations != keys_.iterations) return fail(errc::passthrough_mismatch);
  } else {
    scram_keys derived;
    const std::error_code ec = scram_derive_keys(password_, salt, iterations, derived);
    keys_.client_key = derived.client_key;
    keys_.server_key = derived.server_key;
    OPENSSL_cleanse(&derived, sizeof derived);
    if (ec) return fail(ec);
  }

  scram_key stored_key{};
  if (auto ec = sha256(keys_.client_key, stored_key)) return fail(ec);
  std::string cbind_input = gs2_header();
  if (use_channel_binding_) cbind_input.append(cb_data_.begin(), cb_data_.end());
  const std::string without_proof = "c=" + base64_encode(cbind_input) + ",r=" + std::string(nonce);
  const std::string auth_message = client_first_bare_ + "," + std::string(server_first_message) + "," + without_proof;

  scram_key client_signature{};
  if (auto ec = hmac_sha256(stored_key, as_bytes(auth_message), client_signature)) return fail(ec);
  if (auto ec = hmac_sha256(keys_.server_key, as_bytes(auth_message), expected_server_signature_)) return fail(ec);
  const scram_key proof = xor_keys(keys_.client_key, client_signature);
  client_final_out = without_proof + ",p=" + base64_encode(proof);
  state_ = state::sent_client_final;
  return {};
}

std::error_code scram_client::handle_server_final(std::string_view server_final_message) {
  if (state_ != state::sent_client_final) return fail(errc::out_of_order);
  if (server_final_message.find('\0') != std::string_view::npos) return fail(errc::malformed_message);

  // server-final-message = (server-error / verifier) ["," extensions]
  std::string_view input = server_final_message;
  if (input.starts_with("e=")) {
    std::string_view error;
    if (scram_read_attribute(input, 'e', error)) return fail(errc::malformed_message);
    server_error_ = error;
    return fail(errc::server_error);
  }
  std::string_view signature_b64;
  if (auto ec = scram_read_attribute(input, 'v', signature_b64)) return fail(ec);
  if (!input.empty()) return fail(errc::malformed_message);
  std::vector<std::uint8_t> signature;
  if (auto ec = base64_decode(signature_b64, signature)) return fail(ec);
  if (!keys_equal(signature, expected_server_signature_)) return fail(errc::invalid_server_signature);
  state_ = state::done;
  return {};
}

}  // namespace pgfunnel::auth
