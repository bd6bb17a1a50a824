// SCRAM-SHA-256(-PLUS) server state machine: validates client messages, checks the proof, signs back.
#include "pgfunnel/auth/scram_server.hpp"

#include <openssl/crypto.h>

#include "pgfunnel/auth/errc.hpp"

namespace pgfunnel::auth {

scram_server::scram_server(scram_credential credential, std::vector<std::uint8_t> cb_data,
                           std::string server_nonce)
    : cb_data_(std::move(cb_data)), server_nonce_(std::move(server_nonce)) {
  if (auto* verifier = std::get_if<scram_verifier>(&credential)) {
    verifier_ = std::move(*verifier);
  } else {
    // Copy, then wipe the source: a moved-from short string would keep its bytes in place.
    auto& given = std::get<scram_plaintext_password>(credential).password;
    password_ = given;
    OPENSSL_cleanse(given.data(), given.size());
  }
}

scram_server::~scram_server() {
  OPENSSL_cleanse(password_.data(), password_.size());
  if (client_key_) OPENSSL_cleanse(client_key_->data(), client_key_->size());
}

std::vector<std::string> scram_server::mechanisms() const {
  std::vector<std::string> out;
  if (!cb_data_.empty()) out.emplace_back(scram_sha_256_plus_name);
  out.emplace_back(scram_sha_256_name);
  return out;
}

std::optional<scram_key> scram_server::client_key() const {
  return state_ == state::done ? client_key_ : std::nullopt;
}

std::error_code scram_server::fail(std::error_code ec) noexcept {
  // A finished exchange stays finished: a stray late call must not revoke a successful login.
  if (state_ != state::done) state_ = state::failed;
  return ec;
}

std::error_code scram_server::parse_client_first(std::string_view mechanism, std::string_view message) {
  if (mechanism == scram_sha_256_plus_name) {
    if (cb_data_.empty()) return errc::unsupported_mechanism;  // -PLUS is only offered over TLS
    use_channel_binding_ = true;
  } else if (mechanism == scram_sha_256_name) {
    use_channel_binding_ = false;
  } else {
    return errc::unsupported_mechanism;
  }

  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  std::string_view input = message;
  if (input.empty()) return errc::malformed_message;
  switch (input[0]) {
    case 'n':  // client does not support channel binding
    case 'y':  // client supports it but thinks we do not
      if (use_channel_binding_) return errc::channel_binding_missing;
      // RFC 5802 section 6: "y" from a client while we do offer binding means someone stripped
      // -PLUS from our mechanism list on the way (a downgrade attack).
      if (input[0] == 'y' && !cb_data_.empty()) return errc::channel_binding_downgrade;
      if (input.size() < 2 || input[1] != ',') return errc::malformed_message;
      input.remove_prefix(2);
      break;
    case 'p': {
      if (!use_channel_binding_) return errc::channel_binding_unexpected;
      if (input.size() < 2 || input[1] != '=') return errc::malformed_message;
      const std::size_t comma = input.find(',');
      if (comma == std::string_view::npos) return errc::malformed_message;
      if (input.substr(2, comma - 2) != tls_server_end_point_name) return errc::unsupported_channel_binding_type;
      input.remove_prefix(comma + 1);
      break;
    }
    default:
      return errc::malformed_message;
  }
  if (input.starts_with("a=")) return errc::authzid_not_supported;
  if (input.empty() || input[0] != ',') return errc::malformed_message;
  input.remove_prefix(1);
  gs2_header_ = message.substr(0, message.size() - input.size());
  client_first_bare_ = input;

  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  if (input.starts_with("m=")) return errc::extensions_not_supported;
  std::string_view user;  // ignored: the startup message named the user
  if (auto ec = scram_read_attribute(input, 'n', user)) return ec;
  std::string_view client_nonce;
  if (auto ec = scram_read_attribute(input, 'r', client_nonce)) return ec;
  if (client_nonce.empty() || !scram_is_printable(client_nonce)) return errc::invalid_nonce;
  // Optional extensions: RFC 5802 says to ignore unknown ones, and PostgreSQL does; syntax is checked.
  while (!input.empty()) {
    char name = 0;
    std::string_view value;
    if (auto ec = scram_read_any_attribute(input, name, value)) return ec;
  }
  nonce_ = client_nonce;
  return {};
}

std::error_code scram_server::handle_client_first(std::string_view mechanism, std::string_view client_first_message,
                                                  std::string& server_first_out) {
  if (state_ != state::initial) return fail(errc::out_of_order);
  // The wire format is NUL-terminated in PostgreSQL; an embedded NUL is never legitimate.
  if (client_first_message.find('\0') != std::string_view::npos) return fail(errc::malformed_message);
  if (auto ec = parse_client_first(mechanism, client_first_message)) return fail(ec);

  if (!verifier_) {
    scram_verifier derived;
    empty_password_ = password_.empty();
    if (empty_password_) {
      // Derive from random bytes instead so that nothing, not even an empty proof, matches.
      password_.resize(scram_raw_nonce_length);
      if (auto ec = random_bytes(std::span(reinterpret_cast<std::uint8_t*>(password_.data()), password_.size()))) {
        return fail(ec);
      }
    }
    std::error_code ec = make_scram_verifier(password_, derived);
    OPENSSL_cleanse(password_.data(), password_.size());
    password_.clear();
    if (ec) return fail(ec);
    verifier_ = std::move(derived);
  }
  if (server_nonce_.empty()) {
    if (auto ec = scram_generate_nonce(server_nonce_)) return fail(ec);
  } else if (!scram_is_printable(server_nonce_)) {
    return fail(errc::invalid_nonce);
  }
  nonce_ += server_nonce_;

  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(verifier_->salt) + ",i=" + std::to_string(verifier_->iterations);
  server_first_out = server_first_;
  state_ = state::sent_server_first;
  return {};
}

std::error_code scram_server::handle_client_final(std::string_view client_final_message,
                                                  std::string& server_final_out) {
  if (state_ != state::sent_server_first) return fail(errc::out_of_order);
  if (client_final_message.find('\0') != std::string_view::npos) return fail(errc::malformed_message);

  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  std::string_view input = client_final_message;
  std::string_view cbind_b64;
  if (auto ec = scram_read_attribute(input, 'c', cbind_b64)) return fail(ec);
  std::vector<std::uint8_t> cbind;
  if (auto ec = base64_decode(cbind_b64, cbind)) return fail(ec);
  // c= must repeat the gs2 header of the first message, followed by the binding data when "p".
  std::vector<std::uint8_t> expected(gs2_header_.begin(), gs2_header_.end());
  if (use_channel_binding_) expected.insert(expected.end(), cb_data_.begin(), cb_data_.end());
  if (!keys_equal(cbind, expected)) return fail(errc::channel_binding_mismatch);

  std::string_view nonce;
  if (auto ec = scram_read_attribute(input, 'r', nonce)) return fail(ec);
  if (nonce != nonce_) return fail(errc::nonce_mismatch);

  // Skip optional extensions up to the proof, which must be the last attribute.
  std::string_view proof_b64;
  std::string_view without_proof;
  for (;;) {
    if (input.empty()) return fail(errc::malformed_message);  // no proof
    const std::size_t start = client_final_message.size() - input.size();
    char name = 0;
    std::string_view value;
    if (auto ec = scram_read_any_attribute(input, name, value)) return fail(ec);
    if (name == 'p') {
      proof_b64 = value;
      without_proof = client_final_message.substr(0, start - 1);  // without the ',' before "p="
      break;
    }
  }
  if (!input.empty()) return fail(errc::malformed_message);  // garbage after the proof

  std::vector<std::uint8_t> proof;
  if (auto ec = base64_decode(proof_b64, proof)) return fail(ec);
  if (proof.size() != scram_key_length) return fail(errc::malformed_proof);

  const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  scram_key client_signature{};
  if (auto ec = hmac_sha256(verifier_->stored_key, as_bytes(auth_message), client_signature)) return fail(ec);
  scram_key client_key{};
  for (std::size_t i = 0; i < client_key.size(); ++i) client_key[i] = proof[i] ^ client_signature[i];
  scram_key stored_key{};
  if (auto ec = sha256(client_key, stored_key)) return fail(ec);
  if (!keys_equal(stored_key, verifier_->stored_key) || empty_password_) {
    OPENSSL_cleanse(client_key.data(), client_key.size());
    return fail(errc::invalid_proof);
  }

  scram_key server_signature{};
  if (auto ec = hmac_sha256(verifier_->server_key, as_bytes(auth_message), server_signature)) return fail(ec);
  client_key_ = client_key;
  OPENSSL_cleanse(client_key.data(), client_key.size());
  server_final_out = "v=" + base64_encode(server_signature);
  state_ = state::done;
  return {};
}

}  // namespace pgfunnel::auth
