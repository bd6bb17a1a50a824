// Integration: TLS to clients (both listeners, direct TLS, cert auth, reload, channel binding) and to the upstream (sslmode, SNI).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "program_runner.hpp"
#include "tls_fixture.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

// A libpq conninfo for `port` that connects to 127.0.0.1 but verifies the name "localhost".
std::string tls_conninfo(std::uint16_t port, const std::string& extra, std::string_view user = "postgres",
                         std::string_view password = "postgres") {
  std::string s = "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port) + " dbname=postgres user=" +
                  std::string(user);
  if (!password.empty()) s += " password=" + std::string(password);
  return s + " " + extra;
}

std::string verify_full(const std::string& ca_file) { return "sslmode=verify-full sslrootcert=" + ca_file; }

std::vector<std::string> client_tls_args(std::string_view mode) {
  return {"--client-tls", std::string(mode), "--client-tls-cert-file", certs().path("server_localhost.crt"),
          "--client-tls-key-file", certs().path("server_localhost.key")};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---- TLS between clients and pgfunnel ------------------------------------------------------------

class ClientTls : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    shared_pg().exec("DROP ROLE IF EXISTS tls_direct_only; CREATE ROLE tls_direct_only LOGIN PASSWORD 'secret'");
    funnel_ = std::make_unique<pgfunnel_process>(
        with({"--upstream", shared_pg().url(), "--pool-size", "2", "--log-level", "debug", "--admin-users", "postgres"},
             client_tls_args("allow")));
  }
  static void TearDownTestSuite() { funnel_.reset(); }
  static inline std::unique_ptr<pgfunnel_process> funnel_;
};

TEST_F(ClientTls, PsqlVerifyFullSucceedsOnBothListeners) {
  for (const std::uint16_t port : {funnel_->pooled_port(), funnel_->direct_port()}) {
    const process_result r = run_process(
        {pg_program("psql"), tls_conninfo(port, verify_full(certs().path("ca.pem"))), "-XAtc", "SELECT 'through tls'"});
    EXPECT_EQ(r.exit_code, 0) << r.output << funnel_->log();
    EXPECT_THAT(r.output, HasSubstr("through tls"));
    pq_conn c(tls_conninfo(port, verify_full(certs().path("ca.pem"))));
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(PQsslInUse(c.get()), 1);
    EXPECT_STREQ(PQsslAttribute(c.get(), "protocol"), "TLSv1.3");
  }
}

TEST_F(ClientTls, AWrongCaFailsTheHandshake) {
  for (const std::uint16_t port : {funnel_->pooled_port(), funnel_->direct_port()}) {
    const process_result r = run_process(
        {pg_program("psql"), tls_conninfo(port, verify_full(certs().path("other_ca.pem"))), "-XAtc", "SELECT 1"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.output, HasSubstr("certificate verify failed"));
  }
}

TEST_F(ClientTls, ChannelBindingRequireWorksOnThePooledListener) {
  pq_conn c(tls_conninfo(funnel_->pooled_port(), "sslmode=require channel_binding=require"));
  ASSERT_TRUE(c.ok()) << c.error_message() << funnel_->log();
  EXPECT_EQ(c.value("SELECT 'bound'"), "bound");
  // Without TLS there is nothing to bind to: libpq refuses, as against PostgreSQL.
  pq_conn plain(tls_conninfo(funnel_->pooled_port(), "sslmode=disable channel_binding=require"));
  EXPECT_FALSE(plain.ok());
}

// The direct listener authenticates a TLS client itself when pgfunnel holds the user's secret (here
// the upstream URL's user): SCRAM-SHA-256-PLUS then binds to pgfunnel's certificate, as on the pooled
// listener, and the session gets a server connection of its own.
TEST_F(ClientTls, ChannelBindingRequireWorksOnTheDirectListenerForAKnownUser) {
  pq_conn c(tls_conninfo(funnel_->direct_port(), "sslmode=require channel_binding=require application_name=bound"));
  ASSERT_TRUE(c.ok()) << c.error_message() << funnel_->log();
  EXPECT_EQ(c.value("SELECT current_setting('application_name')"), "bound");  // the client's own parameters
  EXPECT_EQ(c.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bound'"), "1");
  // Its BackendKeyData is the server's own: a cancel reaches the running query.
  ASSERT_TRUE(PQsendQuery(c.get(), "SELECT pg_sleep(30)"));
  std::this_thread::sleep_for(200ms);
  char why[256];
  PGcancel* cancel = PQgetCancel(c.get());
  EXPECT_TRUE(PQcancel(cancel, why, sizeof why)) << why;
  PQfreeCancel(cancel);
  EXPECT_EQ(get_single_result(c.get()).error.sqlstate, "57014");
}

// For a user pgfunnel knows nothing of, the exchange is passed through to the upstream, which would
// bind to its own certificate: SCRAM-SHA-256-PLUS is never offered there, so channel_binding=require
// fails in libpq before any password is sent, and the default (prefer) logs in with plain SCRAM.
TEST_F(ClientTls, TheDirectListenerNeverOffersABindingItCannotComplete) {
  pq_conn required(tls_conninfo(funnel_->direct_port(), "sslmode=require channel_binding=require", "tls_direct_only",
                                "secret"));
  EXPECT_FALSE(required.ok());
  EXPECT_THAT(required.error_message(), HasSubstr("channel binding"));
  pq_conn preferred(tls_conninfo(funnel_->direct_port(), "sslmode=require", "tls_direct_only", "secret"));
  ASSERT_TRUE(preferred.ok()) << preferred.error_message();
  EXPECT_EQ(preferred.value("SELECT current_user"), "tls_direct_only");
}

// The values of column `name` in every row of an admin console SHOW.
std::vector<std::string> show_column(const pgfunnel_process& funnel, const std::string& show, const char* name) {
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  std::vector<std::string> out;
  if (!console.ok()) return out;
  PGresult* res = PQexec(console.get(), show.c_str());
  const int col = PQfnumber(res, name);
  for (int i = 0; col >= 0 && i < PQntuples(res); ++i) out.emplace_back(PQgetvalue(res, i, col));
  PQclear(res);
  return out;
}

TEST_F(ClientTls, ShowClientsNamesTheTlsOfEachClient) {
  pq_conn c(tls_conninfo(funnel_->pooled_port(), verify_full(certs().path("ca.pem"))));
  ASSERT_TRUE(c.ok()) << c.error_message();
  const auto tls = show_column(*funnel_, "SHOW CLIENTS", "tls");
  EXPECT_THAT(tls, ::testing::Contains(::testing::StartsWith("TLSv1.3/TLS_")));
  EXPECT_THAT(tls, ::testing::Contains(""));  // the console itself, in plaintext
}

TEST_F(ClientTls, AllowStillTakesPlaintextClients) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error_message();
  EXPECT_EQ(PQsslInUse(c.get()), 0);
  EXPECT_EQ(c.value("SELECT 1"), "1");
}

// PostgreSQL 17's sslnegotiation=direct: TLS from the first byte, ALPN "postgresql". libpq 15 cannot
// do it, so Python's ssl module plays the client.
TEST_F(ClientTls, DirectTlsWithAlpnIsAcceptedAndWithoutAlpnRefused) {
  const std::string script = R"PY(
import socket, ssl, struct, sys
port, alpn = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=sys.argv[3])
if alpn != "none":
    ctx.set_alpn_protocols([alpn])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
print("alpn", s.selected_alpn_protocol())
body = struct.pack("!i", 196608) + b"user\0postgres\0database\0postgres\0\0"
s.sendall(struct.pack("!i", len(body) + 4) + body)
reply = s.recv(4096)
print("reply", reply[:1].decode(), reply[5:200].replace(b"\0", b"|").decode(errors="replace"))
)PY";
  const auto run = [&](const std::string& alpn) {
    return run_program({"/usr/bin/python3", "-c", script, std::to_string(funnel_->pooled_port()), alpn,
                        certs().path("ca.pem")},
                       ".", 30s);
  };
  const program_result good = run("postgresql");
  EXPECT_TRUE(good.exited_ok()) << good.describe();
  EXPECT_THAT(good.output, HasSubstr("alpn postgresql"));
  EXPECT_THAT(good.output, HasSubstr("reply R"));  // an authentication request: the login goes on
  const program_result none = run("none");
  EXPECT_THAT(none.output, HasSubstr("reply E"));
  EXPECT_THAT(none.output, HasSubstr("without ALPN"));
}

TEST(ClientTlsRequire, APlaintextClientGetsAReadableError) {
  pgfunnel_process funnel(with({"--upstream", shared_pg().url()}, client_tls_args("require")));
  pq_conn plain(funnel.pooled_conninfo());
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().sqlstate, "28000") << plain.error().text;
  EXPECT_THAT(plain.error().message, HasSubstr("requires an encrypted connection"));
  pq_conn direct_plain(funnel.direct_conninfo());
  EXPECT_FALSE(direct_plain.ok());
  EXPECT_THAT(direct_plain.error_message(), HasSubstr("requires an encrypted connection"));
  pq_conn tls(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("ca.pem"))));
  ASSERT_TRUE(tls.ok()) << tls.error_message();
  EXPECT_EQ(tls.value("SELECT 1"), "1");
}

// verify-full + auth_type cert: the client certificate is the login, its CN the user name.
TEST(ClientTlsCert, ACertificateNamingTheUserLogsInWithoutAPassword) {
  pgfunnel_process funnel(with({"--upstream", shared_pg().url(), "--auth-type", "cert", "--client-tls-ca-file",
                                certs().path("ca.pem")},
                               client_tls_args("verify-full")));
  const std::string postgres_cert = "sslcert=" + certs().path("client_postgres.crt") +
                                    " sslkey=" + certs().path("client_postgres.key");
  pq_conn c(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("ca.pem")) + " " + postgres_cert, "postgres",
                         ""));
  ASSERT_TRUE(c.ok()) << c.error_message() << funnel.log();
  EXPECT_EQ(c.value("SELECT current_user"), "postgres");

  const std::string alice_cert =
      "sslcert=" + certs().path("client_alice.crt") + " sslkey=" + certs().path("client_alice.key");
  pq_conn wrong(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("ca.pem")) + " " + alice_cert, "postgres",
                             ""));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().sqlstate, "28000") << wrong.error().text;
  EXPECT_THAT(wrong.error().message, HasSubstr("certificate authentication failed for user \"postgres\""));

  // No certificate at all: the handshake itself fails.
  pq_conn none(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("ca.pem")), "postgres", ""));
  EXPECT_FALSE(none.ok());
}

// SIGHUP reads the certificate files again: new connections get the new certificate, open ones
// carry on with theirs.
TEST(ClientTlsReload, RenewedCertificatesApplyWithoutDroppingConnections) {
  namespace fs = std::filesystem;
  const std::string dir = certs().dir();
  const std::string cert = dir + "/reload.crt", key = dir + "/reload.key";
  fs::copy_file(certs().path("server_localhost.crt"), cert, fs::copy_options::overwrite_existing);
  fs::copy_file(certs().path("server_localhost.key"), key, fs::copy_options::overwrite_existing);
  const std::string config = dir + "/reload.yaml";
  std::ofstream(config) << "upstream: " << shared_pg().url() << "\nclient_tls: require\nclient_tls_cert_file: " << cert
                        << "\nclient_tls_key_file: " << key << "\n";
  pgfunnel_process funnel({"--config", config});
  pq_conn before(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("ca.pem"))));
  ASSERT_TRUE(before.ok()) << before.error_message();

  fs::copy_file(certs().path("server_other_ca.crt"), cert, fs::copy_options::overwrite_existing);
  fs::copy_file(certs().path("server_other_ca.key"), key, fs::copy_options::overwrite_existing);
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("configuration reloaded")) << funnel.log();

  pq_conn after(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("other_ca.pem"))));
  EXPECT_TRUE(after.ok()) << after.error_message();
  pq_conn old_ca(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("ca.pem"))));
  EXPECT_FALSE(old_ca.ok());
  EXPECT_EQ(before.value("SELECT 'still here'"), "still here");

  // A key that does not match: the reload is refused and the running certificate stays.
  fs::copy_file(certs().path("server_localhost.key"), key, fs::copy_options::overwrite_existing);
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("reload failed")) << funnel.log();
  pq_conn still(tls_conninfo(funnel.pooled_port(), verify_full(certs().path("other_ca.pem"))));
  EXPECT_TRUE(still.ok()) << still.error_message();
}

// ---- TLS between pgfunnel and PostgreSQL -----------------------------------------------------------

// PostgreSQL with ssl=on and a certificate for "otherhost" (signed by the test CA).
pg_server& tls_pg() {
  static pg_server server([] {
    pg_options o;
    o.extra_conf = {"ssl = on", "ssl_cert_file = '" + certs().path("server_otherhost.crt") + "'",
                    "ssl_key_file = '" + certs().path("server_otherhost.key") + "'"};
    return o;
  }());
  return server;
}

std::string tls_pg_url(std::string_view host, const std::string& query) {
  return "postgres://postgres:postgres@" + std::string(host) + ":" + std::to_string(tls_pg().port()) + "/postgres?" +
         query;
}

TEST(UpstreamTls, SslmodeRequireEncryptsServerConnections) {
  pgfunnel_process funnel(
      {"--upstream", tls_pg_url("127.0.0.1", "sslmode=require"), "--pool-size", "2", "--admin-users", "postgres"});
  for (const std::uint16_t port : {funnel.pooled_port(), funnel.direct_port()}) {
    pq_conn c(tls_conninfo(port, "sslmode=disable"));
    ASSERT_TRUE(c.ok()) << c.error_message() << funnel.log();
    EXPECT_EQ(c.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
    EXPECT_EQ(c.value("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "TLSv1.3");
  }
  EXPECT_THAT(show_column(funnel, "SHOW SERVERS", "tls"), ::testing::Each(::testing::StartsWith("TLSv1.3/TLS_")));
  // Channel binding upstream: pgfunnel binds to the server's certificate (SCRAM-SHA-256-PLUS).
  pgfunnel_process bound({"--upstream", tls_pg_url("127.0.0.1", "sslmode=require&channel_binding=require")});
  pq_conn through_bound(bound.pooled_conninfo());
  ASSERT_TRUE(through_bound.ok()) << through_bound.error_message() << bound.log();
  EXPECT_EQ(through_bound.value("SELECT 1"), "1");

  // The same URL against a PostgreSQL without TLS: a clear error, no plaintext fallback.
  pgfunnel_process to_plain({"--upstream", shared_pg().url() + "?sslmode=require"});
  pq_conn refused(to_plain.pooled_conninfo());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("does not support TLS, but sslmode=require requires it"));
}

// The documented limit of a passed-through login: a TLS client that pgfunnel holds no secret for,
// against a TLS upstream. libpq (channel_binding=prefer) saw no -PLUS offered and says "y" (it could
// bind but thinks the server cannot); PostgreSQL, which can, refuses that as a downgrade. The client
// gets PostgreSQL's own error; channel_binding=disable, or the user in pgfunnel's users:, avoids it.
TEST(UpstreamTls, APassedThroughScramLoginOverTlsOnBothSidesMeetsTheDowngradeCheck) {
  tls_pg().exec("DROP ROLE IF EXISTS tls_unknown; CREATE ROLE tls_unknown LOGIN PASSWORD 'secret'");
  pgfunnel_process funnel(
      with({"--upstream", tls_pg_url("127.0.0.1", "sslmode=require")}, client_tls_args("allow")));
  pq_conn refused(tls_conninfo(funnel.direct_port(), "sslmode=require", "tls_unknown", "secret"));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error_message(), HasSubstr("channel binding negotiation error"));
  pq_conn disabled(tls_conninfo(funnel.direct_port(), "sslmode=require channel_binding=disable", "tls_unknown", "secret"));
  ASSERT_TRUE(disabled.ok()) << disabled.error_message();
  EXPECT_EQ(disabled.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
  // A user pgfunnel knows is authenticated by pgfunnel itself: binding works end to end.
  pq_conn known(tls_conninfo(funnel.direct_port(), "sslmode=require channel_binding=require"));
  ASSERT_TRUE(known.ok()) << known.error_message();
  EXPECT_EQ(known.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");
}

TEST(UpstreamTls, VerifyFullAgainstACertificateForAnotherHostFails) {
  const std::string ca = "sslrootcert=" + certs().path("ca.pem");
  pgfunnel_process wrong_name({"--upstream", tls_pg_url("localhost", "sslmode=verify-full&" + ca)});
  pq_conn refused(wrong_name.pooled_conninfo());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().sqlstate, "08006") << refused.error().text;
  EXPECT_THAT(refused.error().message, HasSubstr("TLS handshake with server localhost"));
  EXPECT_THAT(refused.error().message, HasSubstr("hostname mismatch"));

  // The name it does carry, resolved by this test to 127.0.0.1 through hostaddr: verify-full
  // passes. (verify-ca checks only the chain, so "localhost" passes it too.)
  pgfunnel_process chain_only({"--upstream", tls_pg_url("localhost", "sslmode=verify-ca&" + ca)});
  pq_conn ok(chain_only.pooled_conninfo());
  ASSERT_TRUE(ok.ok()) << ok.error_message() << chain_only.log();
  EXPECT_EQ(ok.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t");

  pgfunnel_process other_ca({"--upstream", tls_pg_url("localhost", "sslmode=verify-ca&sslrootcert=" +
                                                                       certs().path("other_ca.pem"))});
  pq_conn untrusted(other_ca.pooled_conninfo());
  ASSERT_FALSE(untrusted.ok());
  EXPECT_THAT(untrusted.error().message, HasSubstr("certificate verify failed"));
}

// A stand-in TLS server (tests/support/sni_recorder.py) that records the SNI name and startup
// parameters it is sent.
class sni_recorder {
 public:
  sni_recorder() : out_(certs().dir() + "/sni-" + std::to_string(::getpid()) + ".jsonl") {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      const std::string script = std::string(PGFUNNEL_SOURCE_DIR) + "/tests/support/sni_recorder.py";
      const std::string cert = certs().path("server_localhost.crt"), key = certs().path("server_localhost.key");
      ::execl("/usr/bin/python3", "python3", script.c_str(), cert.c_str(), key.c_str(), out_.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char ch;
    while (::read(fds[0], &ch, 1) == 1 && ch != '\n') line += ch;
    ::close(fds[0]);
    if (line.rfind("port ", 0) != 0) throw std::runtime_error("sni_recorder did not start: " + line);
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(5)));
  }
  ~sni_recorder() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::uint16_t port() const { return port_; }
  std::string recorded() const {
    std::ifstream in(out_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string out_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

TEST(UpstreamTls, SniCarriesTheHostNameAndOptionsPassThrough) {
  sni_recorder recorder;
  const std::string base = ":" + std::to_string(recorder.port()) + "/postgres?sslmode=require";
  {
    pgfunnel_process funnel({"--upstream", "postgres://postgres:postgres@localhost" + base +
                                               "&options=endpoint%3Dep-cool-darkness-123456"});
    pq_conn c(funnel.pooled_conninfo());
    EXPECT_FALSE(c.ok());  // the recorder answers every login with an error
    EXPECT_THAT(c.error().message, HasSubstr("recorded by sni_recorder"));
  }
  {
    pgfunnel_process funnel({"--upstream", "postgres://postgres:postgres@127.0.0.1" + base});
    pq_conn c(funnel.pooled_conninfo());
    EXPECT_FALSE(c.ok());
  }
  const std::string seen = recorder.recorded();
  EXPECT_THAT(seen, HasSubstr(R"("sni": "localhost", "params": {"user": "postgres", "database": "postgres", )"
                              R"("options": "endpoint=ep-cool-darkness-123456"})"));
  // An IP literal is never sent as SNI (RFC 6066).
  EXPECT_THAT(seen, HasSubstr(R"({"sni": null, "params": {"user": "postgres", "database": "postgres"})"));
}

}  // namespace
}  // namespace pgfunnel::test
