// The server side of a SCRAM-SHA-256(-PLUS) exchange, for clients logging in to pgfunnel (sans-io).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "pgfunnel/auth/scram_common.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"

namespace pgfunnel::auth {

// A plaintext password as credential: a verifier with a random salt is derived from it when the
// exchange starts (so each login sees a different salt, as with pgbouncer's plaintext users).
// An empty password never authenticates (as in PostgreSQL): the exchange runs and fails at the proof.
struct scram_plaintext_password {
  std::string password;
};

// What the server knows about the user being authenticated.
using scram_credential = std::variant<scram_verifier, scram_plaintext_password>;

// Drives one exchange: mechanisms() -> handle_client_first() -> handle_client_final().
// The user name is not taken from the SCRAM messages (the "n=" attribute is ignored, as PostgreSQL
// ignores it): the caller has already picked the credential from the startup message's user.
// After any error the exchange is over and every further call returns errc::out_of_order.
class scram_server {
 public:
  // `cb_data` is the tls-server-end-point hash of our certificate (channel_binding.hpp); empty when
  // the connection is not over TLS, which disables SCRAM-SHA-256-PLUS.
  // `server_nonce` is for tests only (RFC vectors, fuzzing): empty means a fresh random nonce.
  explicit scram_server(scram_credential credential, std::vector<std::uint8_t> cb_data = {},
                        std::string server_nonce = {});
  ~scram_server();
  scram_server(const scram_server&) = delete;
  scram_server& operator=(const scram_server&) = delete;
  scram_server(scram_server&&) noexcept = default;
  scram_server& operator=(scram_server&&) noexcept = default;

  // The mechanisms to list in AuthenticationSASL, preferred first.
  std::vector<std::string> mechanisms() const;

  // `mechanism` is the name from SASLInitialResponse, `client_first_message` its data.
  std::error_code handle_client_first(std::string_view mechanism, std::string_view client_first_message,
                                      std::string& server_first_out);
  // On success, `server_final_out` ("v=...") goes into AuthenticationSASLFinal. On error nothing is
  // written to it; errc::invalid_proof means a wrong password.
  std::error_code handle_client_final(std::string_view client_final_message, std::string& server_final_out);

  // True once handle_client_final() succeeded.
  bool authenticated() const noexcept { return state_ == state::done; }
  // The ClientKey recovered from the proof (ClientProof XOR ClientSignature), set after success: with
  // it and the verifier, scram_client can log in upstream without the password (key passthrough).
  std::optional<scram_key> client_key() const;
  // The verifier in use: the given one, or the one derived from a plaintext password (available
  // after handle_client_first() succeeded).
  const std::optional<scram_verifier>& verifier() const noexcept { return verifier_; }
  // True when the client negotiated SCRAM-SHA-256-PLUS.
  bool channel_binding_used() const noexcept { return use_channel_binding_; }

 private:
  enum class state { initial, sent_server_first, done, failed };

  std::error_code fail(std::error_code ec) noexcept;
  std::error_code parse_client_first(std::string_view mechanism, std::string_view message);

  state state_ = state::initial;
  std::optional<scram_verifier> verifier_;
  std::string password_;  // plaintext credential until the verifier is derived
  bool empty_password_ = false;  // plaintext credential was empty: fail at the proof
  std::vector<std::uint8_t> cb_data_;
  std::string server_nonce_;
  bool use_channel_binding_ = false;
  std::string gs2_header_;         // e.g. "n,," or "p=tls-server-end-point,,"
  std::string client_first_bare_;  // client-first-message without the gs2 header
  std::string server_first_;
  std::string nonce_;              // client nonce + server nonce
  std::optional<scram_key> client_key_;
};

}  // namespace pgfunnel::auth
