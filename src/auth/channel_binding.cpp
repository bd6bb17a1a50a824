// RFC 5929 tls-server-end-point hash of a DER certificate, using OpenSSL's X509 API.
#include "pgfunnel/auth/channel_binding.hpp"

#include <climits>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "pgfunnel/auth/errc.hpp"

namespace pgfunnel::auth {

std::error_code tls_server_end_point_hash(std::span<const std::uint8_t> cert_der, std::vector<std::uint8_t>& out) {
  if (cert_der.empty() || cert_der.size() > static_cast<std::size_t>(LONG_MAX)) return errc::invalid_certificate;
  const unsigned char* p = cert_der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(cert_der.size()));
  if (cert == nullptr) return errc::invalid_certificate;
  std::error_code ec;
  int hash_nid = NID_undef;
  if (p != cert_der.data() + cert_der.size()) {
    ec = errc::invalid_certificate;  // trailing bytes: not the certificate the peer presented
  } else if (OBJ_find_sigid_algs(X509_get_signature_nid(cert), &hash_nid, nullptr) == 0 || hash_nid == NID_undef) {
    ec = errc::unsupported_signature_algorithm;
  } else {
    const EVP_MD* md = (hash_nid == NID_md5 || hash_nid == NID_sha1) ? EVP_sha256() : EVP_get_digestbynid(hash_nid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (md == nullptr) {
      ec = errc::unsupported_signature_algorithm;
    } else if (X509_digest(cert, md, digest, &len) != 1) {
      ec = errc::crypto_failure;
    } else {
      out.assign(digest, digest + len);
    }
  }
  X509_free(cert);
  return ec;
}

}  // namespace pgfunnel::auth
