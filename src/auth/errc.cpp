// The auth error category: names and human-readable messages for pgfunnel::auth::errc.
#include "pgfunnel/auth/errc.hpp"

#include <string>

namespace pgfunnel::auth {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pgfunnel.auth"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::out_of_order: return "authentication message received out of order";
      case errc::malformed_message: return "malformed SCRAM message";
      case errc::invalid_base64: return "malformed SCRAM message: invalid base64";
      case errc::unsupported_mechanism: return "unsupported SASL mechanism";
      case errc::extensions_not_supported: return "client requires an unsupported SCRAM extension";
      case errc::authzid_not_supported:
        return "client uses authorization identity, but it is not supported";
      case errc::invalid_nonce: return "malformed SCRAM message: invalid nonce";
      case errc::nonce_mismatch: return "SCRAM nonce does not match";
      case errc::channel_binding_missing:
        return "SCRAM-SHA-256-PLUS selected, but the message does not include channel binding data";
      case errc::channel_binding_unexpected:
        return "SCRAM-SHA-256 selected without channel binding, but the message includes channel "
               "binding data";
      case errc::channel_binding_downgrade:
        return "SCRAM channel binding negotiation error: client supports channel binding but thinks "
               "the server does not";
      case errc::unsupported_channel_binding_type: return "unsupported SCRAM channel-binding type";
      case errc::channel_binding_mismatch: return "SCRAM channel binding check failed";
      case errc::malformed_proof: return "malformed SCRAM message: invalid ClientProof";
      case errc::invalid_proof: return "password authentication failed";
      case errc::invalid_salt: return "invalid SCRAM salt";
      case errc::invalid_iteration_count: return "invalid SCRAM iteration count";
      case errc::invalid_server_signature: return "incorrect server signature";
      case errc::server_error: return "server reported a SCRAM error";
      case errc::passthrough_mismatch:
        return "server's SCRAM salt or iteration count differs from the verifier the passthrough keys "
               "come from";
      case errc::invalid_verifier: return "invalid SCRAM verifier";
      case errc::invalid_certificate: return "could not parse the server certificate";
      case errc::unsupported_signature_algorithm:
        return "could not determine the server certificate's signature hash algorithm";
      case errc::crypto_failure: return "cryptographic library failure";
    }
    return "unknown auth error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& auth_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), auth_category()}; }

}  // namespace pgfunnel::auth
