// Error codes of the sans-io auth module (SCRAM, MD5, channel binding) as a std::error_code category.
#pragma once

#include <system_error>

namespace pgfunnel::auth {

// Every failure the auth module reports. Zero is reserved for success, as std::error_code requires.
// The comment after each value is the reply the caller should send to a client (SQLSTATE).
enum class errc {
  out_of_order = 1,                  // 08P01: a message arrived in the wrong state of the exchange
  malformed_message,                 // 08P01: SCRAM message syntax (attribute names, order, separators)
  invalid_base64,                    // 08P01: an attribute that must be base64 is not
  unsupported_mechanism,             // 28000: SASL mechanism not offered
  extensions_not_supported,          // 08P01: mandatory extension "m=" present
  authzid_not_supported,             // 08P01: gs2 header carries an authorization identity "a="
  invalid_nonce,                     // 08P01: nonce empty or with non-printable characters
  nonce_mismatch,                    // 08P01: nonce does not continue / equal the exchange's nonce
  channel_binding_missing,           // 08P01: -PLUS selected but gs2 flag is "n" or "y"
  channel_binding_unexpected,        // 08P01: gs2 flag "p" with the plain mechanism
  channel_binding_downgrade,         // 08P01: gs2 flag "y" although this server offers binding
  unsupported_channel_binding_type,  // 08P01: "p=" names a type other than tls-server-end-point
  channel_binding_mismatch,          // 08P01: "c=" is not base64(gs2 header + cb data)
  malformed_proof,                   // 08P01: ClientProof of the wrong length
  invalid_proof,                     // 28P01: wrong password (SCRAM proof or MD5 response)
  invalid_salt,                      // client side: empty salt, or salt differs from the passthrough keys'
  invalid_iteration_count,           // client side: iteration count 0, not a number, or above the cap
  invalid_server_signature,          // client side: server failed to prove it knows the verifier
  server_error,                      // client side: server-final-message carried "e="
  passthrough_mismatch,              // client side: server's salt/iterations differ from the passthrough keys'
  invalid_verifier,                  // stored SCRAM verifier text is malformed
  invalid_certificate,               // channel binding: certificate DER does not parse
  unsupported_signature_algorithm,   // channel binding: certificate signature has no usable hash
  crypto_failure,                    // OpenSSL failed (allocation, missing algorithm, RNG)
};

const std::error_category& auth_category() noexcept;

std::error_code make_error_code(errc e) noexcept;

}  // namespace pgfunnel::auth

template <>
struct std::is_error_code_enum<pgfunnel::auth::errc> : std::true_type {};
