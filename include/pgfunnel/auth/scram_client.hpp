// The client side of a SCRAM-SHA-256(-PLUS) exchange, for pgfunnel logging in to PostgreSQL (sans-io).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pgfunnel/auth/scram_common.hpp"

namespace pgfunnel::auth {

// Keys that stand in for the password (SCRAM key passthrough): the ClientKey a client proved to
// scram_server, plus the ServerKey, salt and iteration count of the verifier they belong to. They
// only work if the upstream server's verifier has the same salt and iteration count.
struct scram_client_keys {
  scram_key client_key{};
  scram_key server_key{};
  std::vector<std::uint8_t> salt;
  std::uint32_t iterations = 0;
};

// Drives one exchange: [select_mechanism()] -> client_first() -> handle_server_first() ->
// handle_server_final(). After any error every further call returns errc::out_of_order.
class scram_client {
 public:
  // Iteration counts above this are refused unless set_max_iterations() raises it: a hostile or
  // misconfigured server could otherwise make us spend minutes in PBKDF2.
  static constexpr std::uint32_t default_max_iterations = 10'000'000;

  // `cb_data` is the tls-server-end-point hash of the server's certificate; empty when not over TLS.
  // `client_nonce` is for tests only (RFC vectors, fuzzing): empty means a fresh random nonce.
  scram_client(std::string user, std::string password, std::vector<std::uint8_t> cb_data = {},
               std::string client_nonce = {});
  scram_client(std::string user, scram_client_keys keys, std::vector<std::uint8_t> cb_data = {},
               std::string client_nonce = {});
  ~scram_client();
  scram_client(const scram_client&) = delete;
  scram_client& operator=(const scram_client&) = delete;
  scram_client(scram_client&&) noexcept = default;
  scram_client& operator=(scram_client&&) noexcept = default;

  // Chooses from AuthenticationSASL's list: SCRAM-SHA-256-PLUS when we have cb data and it is
  // offered, else SCRAM-SHA-256 (announcing "y" when we could have bound: the server can then detect
  // a downgrade). errc::unsupported_mechanism when neither is offered. Without this call the
  // mechanism is -PLUS when cb data was given, else SCRAM-SHA-256.
  std::error_code select_mechanism(const std::vector<std::string>& offered, std::string& mechanism_out);
  // The mechanism name to put in SASLInitialResponse.
  std::string_view mechanism() const noexcept;

  // SASLInitialResponse data. Fails only if the random generator fails, or when called twice.
  std::error_code client_first(std::string& client_first_out);
  // AuthenticationSASLContinue data in; SASLResponse data out.
  std::error_code handle_server_first(std::string_view server_first_message, std::string& client_final_out);
  // AuthenticationSASLFinal data. errc::server_error when it carries "e=" (see server_error()).
  std::error_code handle_server_final(std::string_view server_final_message);

  bool authenticated() const noexcept { return state_ == state::done; }
  // The value of a server-final "e=" attribute, if one was received.
  const std::string& server_error() const noexcept { return server_error_; }
  void set_max_iterations(std::uint32_t max) noexcept { max_iterations_ = max; }

 private:
  enum class state { initial, sent_client_first, sent_client_final, done, failed };

  std::error_code fail(std::error_code ec) noexcept;
  std::string gs2_header() const;

  state state_ = state::initial;
  std::string user_;
  std::string password_;  // empty in passthrough mode
  bool passthrough_ = false;
  scram_client_keys keys_;  // passthrough mode: given; password mode: filled in from server-first
  std::vector<std::uint8_t> cb_data_;
  bool use_channel_binding_ = false;
  char cbind_flag_ = 'n';
  std::string client_nonce_;
  std::string client_first_bare_;
  scram_key expected_server_signature_{};
  std::string server_error_;
  std::uint32_t max_iterations_ = default_max_iterations;
};

}  // namespace pgfunnel::auth
