// Certificates for TLS tests: openssl req/x509 into a temporary directory, removed at the end.
#include "tls_fixture.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <pwd.h>
#include <unistd.h>

#include "program_runner.hpp"

namespace pgfunnel::test {
namespace {

void openssl(const std::vector<std::string>& args, const std::string& cwd) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const program_result r = run_program(argv, cwd, std::chrono::seconds(60));
  if (!r.exited_ok()) throw std::runtime_error("tls_fixture: openssl failed: " + r.describe());
}

}  // namespace

tls_fixture::tls_fixture() {
  std::string templ = (std::filesystem::temp_directory_path() / "pgfunnel-tls-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("tls_fixture: mkdtemp failed");
  dir_ = templ;
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                         std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                         std::filesystem::perms::others_exec);
  make_ca("ca");
  make_ca("other_ca");
  make_cert("server_localhost", "localhost", "DNS:localhost,IP:127.0.0.1", "ca");
  make_cert("server_otherhost", "otherhost", "DNS:otherhost", "ca");
  make_cert("server_other_ca", "localhost", "DNS:localhost,IP:127.0.0.1", "other_ca");
  make_cert("client_postgres", "postgres", "", "ca");
  make_cert("client_alice", "alice", "", "ca");
  // libpq refuses a client key readable by others; PostgreSQL refuses a server key that is not
  // its own 0600 file (or root's 0640).
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() != ".key") continue;
    std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    if (::geteuid() == 0 && entry.path().filename().string().starts_with("server_")) {
      if (const passwd* pw = ::getpwnam("postgres")) {
        if (::chown(entry.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
          throw std::runtime_error("tls_fixture: chown " + entry.path().string());
      }
    }
  }
}

tls_fixture::~tls_fixture() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void tls_fixture::make_ca(const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           name + ".key", "-out", name + ".pem", "-days", "30", "-subj", "/CN=pgfunnel test " + name},
          dir_);
}

void tls_fixture::make_cert(const std::string& name, const std::string& cn, const std::string& san,
                            const std::string& ca) {
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
           "-out", name + ".csr", "-subj", "/CN=" + cn},
          dir_);
  std::vector<std::string> sign{"x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                                "-CAcreateserial", "-out", name + ".crt", "-days", "30"};
  if (!san.empty()) {
    std::ofstream(dir_ + "/" + name + ".ext") << "subjectAltName=" << san << "\n";
    sign.insert(sign.end(), {"-extfile", name + ".ext"});
  }
  openssl(sign, dir_);
}

tls_fixture& certs() {
  static tls_fixture fixture;
  return fixture;
}

}  // namespace pgfunnel::test
