// TLS contexts for both sides: pgfunnel as a TLS server to clients, and as a TLS client to PostgreSQL.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pgfunnel/config/config.hpp"
#include "pgfunnel/net/asio.hpp"

struct ssl_ctx_st;
struct ssl_st;

namespace pgfunnel::net {

using tls_context = std::shared_ptr<ssl_ctx_st>;

// An OpenSSL error (from ERR_get_error) as an error_code whose message is OpenSSL's reason text.
error_code tls_error(unsigned long openssl_error);
const boost::system::error_category& tls_category();

// The listeners' context from client_tls*: certificate and key, TLS 1.2 or later, the ciphers,
// ALPN "postgresql" (PostgreSQL 17's direct TLS), and with verify-ca/verify-full the CA that client
// certificates must chain to. nullptr with `error` set when a file cannot be used; nullptr and no
// error when client_tls is disable.
tls_context make_client_facing_context(const config::settings& settings, std::string& error);

// The context for connections to the upstream, from its URL's sslmode, sslrootcert ("system" = the
// system's CAs), sslcert and sslkey. nullptr and no error for sslmode=disable.
tls_context make_upstream_context(const config::upstream_url& upstream, std::string& error);

// What an upstream sslmode asks of the connection.
struct upstream_tls_policy {
  bool try_tls = false;      // send SSLRequest
  bool require_tls = false;  // fail when the server says 'N'
  bool verify_chain = false;
  bool verify_host = false;
};
upstream_tls_policy tls_policy_for(std::string_view sslmode);

// The protocol name a direct-TLS client must negotiate (PostgreSQL 17: sslnegotiation=direct).
inline constexpr std::string_view alpn_postgresql = "postgresql";
// True when the handshake on `ssl` selected ALPN "postgresql".
bool negotiated_postgresql_alpn(ssl_st* ssl);

// tls-server-end-point channel-binding data for the certificate this side presented (RFC 5929);
// empty when it cannot be computed (then SCRAM-SHA-256-PLUS is not offered).
std::vector<std::uint8_t> own_certificate_hash(ssl_st* ssl);

// tls-server-end-point data for the certificate the peer presented; empty when none or not computable.
std::vector<std::uint8_t> peer_certificate_hash(ssl_st* ssl);

// The subject Common Name of the certificate the peer presented (cert auth); empty when none.
std::string peer_common_name(ssl_st* ssl);

// True for an IPv4 or IPv6 literal: SNI is never sent for those (RFC 6066 section 3).
bool is_ip_literal(std::string_view host);

}  // namespace pgfunnel::net
