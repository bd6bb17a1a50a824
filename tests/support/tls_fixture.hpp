// Test fixture: a throwaway CA and certificates made with the openssl CLI (servers, clients, a second CA).
#pragma once

#include <string>

namespace pgfunnel::test {

// Files in dir(): ca.pem (+ca.key), other_ca.pem, and <name>.crt/<name>.key for
//   server_localhost  CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (signed by ca)
//   server_otherhost  CN=otherhost, SAN DNS:otherhost (signed by ca)
//   server_other_ca   CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (signed by other_ca)
//   client_postgres   CN=postgres (signed by ca); client_alice CN=alice (signed by ca)
// Keys are P-256 (fast to make). As root, the directory and the server keys belong to the
// "postgres" OS user with mode 0600, as PostgreSQL's ssl_key_file requires; the rest stay readable.
class tls_fixture {
 public:
  tls_fixture();  // throws std::runtime_error with openssl's output on failure
  ~tls_fixture();
  tls_fixture(const tls_fixture&) = delete;
  tls_fixture& operator=(const tls_fixture&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  void make_ca(const std::string& name);
  void make_cert(const std::string& name, const std::string& cn, const std::string& san, const std::string& ca);
  std::string dir_;
};

// One fixture per test process, made on first use (the openssl CLI is slow enough to share it).
tls_fixture& certs();

}  // namespace pgfunnel::test
