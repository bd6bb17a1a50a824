// Channel-binding data for SCRAM-SHA-256-PLUS: the tls-server-end-point certificate hash (RFC 5929).
#pragma once

#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace pgfunnel::auth {

// Hash of the DER certificate with the hash of its signature algorithm, MD5 and SHA-1 replaced by
// SHA-256 (RFC 5929 section 4.1). Pass our own certificate on the client-facing side, the server's
// certificate (from the TLS handshake) on the upstream side.
// errc::invalid_certificate if `cert_der` is not exactly one DER certificate;
// errc::unsupported_signature_algorithm when the signature has no single hash (e.g. Ed25519,
// RSA-PSS), where PostgreSQL fails as well.
std::error_code tls_server_end_point_hash(std::span<const std::uint8_t> cert_der, std::vector<std::uint8_t>& out);

}  // namespace pgfunnel::auth
