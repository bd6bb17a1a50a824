// OpenSSL contexts for the client-facing and upstream sides, and the few certificate facts the login needs.
#include "pgfunnel/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <fmt/format.h>

#include "pgfunnel/auth/channel_binding.hpp"

namespace pgfunnel::net {

namespace {

class tls_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int value) const override {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(static_cast<unsigned>(value)));
    return reason ? reason : fmt::format("TLS error {}", value);
  }
};

// Both sides: TLS 1.2 at least, no compression, no renegotiation (PostgreSQL disables it too).
bool apply_common(SSL_CTX* context) {
  SSL_CTX_set_options(context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  return SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1;
}

std::string last_openssl_error(std::string_view what, const std::string& file) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  return fmt::format("{} '{}': {}", what, file, reason ? reason : "unknown OpenSSL error");
}

// ALPN: pick "postgresql" when the client offers it; a client offering only other protocols is
// refused, as PostgreSQL 17 does. A client offering none goes on (SSLRequest clients before 17).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  unsigned int i = 0;
  while (i < inlen) {
    const unsigned len = in[i];
    if (i + 1 + len > inlen) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == alpn_postgresql) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

tls_context wrap(SSL_CTX* context) { return tls_context(context, SSL_CTX_free); }

}  // namespace

const boost::system::error_category& tls_category() {
  static const tls_category_impl category;
  return category;
}

error_code tls_error(unsigned long openssl_error) {
  return error_code(static_cast<int>(static_cast<unsigned>(openssl_error)), tls_category());
}

tls_context make_client_facing_context(const config::settings& settings, std::string& error) {
  if (settings.client_tls == config::client_tls_mode::disable) return nullptr;
  tls_context context = wrap(SSL_CTX_new(TLS_server_method()));
  if (!context || !apply_common(context.get())) {
    error = "cannot create a TLS context";
    return nullptr;
  }
  SSL_CTX* c = context.get();
  if (SSL_CTX_use_certificate_chain_file(c, settings.client_tls_cert_file.c_str()) != 1) {
    error = last_openssl_error("client_tls_cert_file", settings.client_tls_cert_file);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(c, settings.client_tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = last_openssl_error("client_tls_key_file", settings.client_tls_key_file);
    return nullptr;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    error = last_openssl_error("client_tls_key_file does not match client_tls_cert_file", settings.client_tls_key_file);
    return nullptr;
  }
  if (!settings.client_tls_ciphers.empty() && SSL_CTX_set_cipher_list(c, settings.client_tls_ciphers.c_str()) != 1) {
    error = last_openssl_error("client_tls_ciphers", settings.client_tls_ciphers);
    return nullptr;
  }
  const bool verify = settings.client_tls == config::client_tls_mode::verify_ca ||
                      settings.client_tls == config::client_tls_mode::verify_full;
  if (!settings.client_tls_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, settings.client_tls_ca_file.c_str(), nullptr) != 1) {
      error = last_openssl_error("client_tls_ca_file", settings.client_tls_ca_file);
      return nullptr;
    }
    // Tell clients which CAs we accept, so libpq picks the right sslcert.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_tls_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(c, names);
  }
  // verify-ca/verify-full: a client without a valid certificate fails the handshake. Otherwise a
  // certificate is asked for only when a CA is configured, and checked if sent.
  if (verify)
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  else if (!settings.client_tls_ca_file.empty())
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
  // Sessions are not resumed: each login is a full handshake, as with PostgreSQL.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(c, 0);
  return context;
}

upstream_tls_policy tls_policy_for(std::string_view sslmode) {
  upstream_tls_policy p;
  if (sslmode == "disable") return p;
  p.try_tls = sslmode != "allow";  // allow: plaintext first (we never retry with TLS; see server_login)
  p.require_tls = sslmode == "require" || sslmode == "verify-ca" || sslmode == "verify-full";
  p.verify_chain = sslmode == "verify-ca" || sslmode == "verify-full";
  p.verify_host = sslmode == "verify-full";
  return p;
}

tls_context make_upstream_context(const config::upstream_url& upstream, std::string& error) {
  const upstream_tls_policy policy = tls_policy_for(upstream.sslmode());
  if (!policy.try_tls) return nullptr;
  tls_context context = wrap(SSL_CTX_new(TLS_client_method()));
  if (!context || !apply_common(context.get())) {
    error = "cannot create a TLS context";
    return nullptr;
  }
  SSL_CTX* c = context.get();
  const auto param = [&](const char* name) {
    const auto it = upstream.params.find(name);
    return it == upstream.params.end() ? std::string() : it->second;
  };
  const std::string root = param("sslrootcert");
  if (policy.verify_chain) {
    // libpq's default is ~/.postgresql/root.crt; a sidecar has no such home, so the URL must say.
    if (root.empty()) {
      error = fmt::format("sslmode={} needs sslrootcert in the upstream URL (a CA file, or 'system')",
                          upstream.sslmode());
      return nullptr;
    }
    const bool ok = root == "system" ? SSL_CTX_set_default_verify_paths(c) == 1
                                     : SSL_CTX_load_verify_locations(c, root.c_str(), nullptr) == 1;
    if (!ok) {
      error = last_openssl_error("sslrootcert", root);
      return nullptr;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  } else {
    // require/prefer: encrypted, not authenticated (libpq checks a given sslrootcert even with
    // require; we follow it).
    if (!root.empty() && root != "system" && SSL_CTX_load_verify_locations(c, root.c_str(), nullptr) == 1)
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    else
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  const std::string cert = param("sslcert"), key = param("sslkey");
  if (!cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1) {
      error = last_openssl_error("sslcert", cert);
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(c, (key.empty() ? cert : key).c_str(), SSL_FILETYPE_PEM) != 1) {
      error = last_openssl_error("sslkey", key.empty() ? cert : key);
      return nullptr;
    }
  }
  static constexpr unsigned char alpn[] = {10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l'};
  SSL_CTX_set_alpn_protos(c, alpn, sizeof alpn);
  return context;
}

bool negotiated_postgresql_alpn(ssl_st* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data && std::string_view(reinterpret_cast<const char*>(data), len) == alpn_postgresql;
}

namespace {
std::vector<std::uint8_t> certificate_hash(X509* cert) {
  std::vector<std::uint8_t> hash;
  if (!cert) return hash;
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return hash;
  if (auth::tls_server_end_point_hash(std::span<const std::uint8_t>(der, static_cast<std::size_t>(len)), hash))
    hash.clear();
  OPENSSL_free(der);
  return hash;
}
}  // namespace

std::vector<std::uint8_t> own_certificate_hash(ssl_st* ssl) {
  return certificate_hash(ssl ? SSL_get_certificate(ssl) : nullptr);
}

std::vector<std::uint8_t> peer_certificate_hash(ssl_st* ssl) {
  return certificate_hash(ssl ? SSL_get0_peer_certificate(ssl) : nullptr);
}

std::string peer_common_name(ssl_st* ssl) {
  X509* cert = ssl ? SSL_get0_peer_certificate(ssl) : nullptr;
  if (!cert) return {};
  std::array<char, 256> cn{};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(), cn.size());
  return n > 0 ? std::string(cn.data(), static_cast<std::size_t>(n)) : std::string();
}

bool is_ip_literal(std::string_view host) {
  error_code ec;
  asio::ip::make_address(std::string(host), ec);
  return !ec;
}

}  // namespace pgfunnel::net
