// Foundation checks against the real thing: our SCRAM client logs in to PostgreSQL, our SCRAM server
// accepts PostgreSQL's own stored verifier, and the pgfunnel binary's --check-config/--help/--version.
#include <array>
#include <cstdio>
#include <gtest/gtest.h>
#include <gmock/gmock.h>
#include <sys/wait.h>

#include "pg_server.hpp"
#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_server.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"
#include "pgfunnel/pool/server_connection.hpp"

namespace {

using namespace pgfunnel;
using ::testing::HasSubstr;

// Runs `command`, returning (exit status, stdout+stderr).
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::array<char, 4096> chunk{};
  while (std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) output.append(chunk.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Logs in with pgfunnel's server-login code (the SCRAM client) and reports the outcome.
net::error_code login(const std::string& user, const std::string& password, pool::server_error& error,
                      pool::server_connection*& out, net::asio::io_context& io,
                      std::unique_ptr<pool::server_connection>& holder) {
  auto& pg = test::shared_pg();
  holder = std::make_unique<pool::server_connection>(io.get_executor(), 1, 200);
  out = holder.get();
  pool::server_login target{pg.host(), pg.port(), user, password, "postgres", "disable"};
  net::error_code result = make_error_code(net::asio::error::would_block);
  net::asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> { result = co_await pool::connect_and_login(*holder, target, error); },
      net::asio::detached);
  io.run();
  io.restart();
  return result;
}

TEST(ScramAgainstPostgres, OurClientLogsIn) {
  net::asio::io_context io;
  pool::server_error error;
  pool::server_connection* server = nullptr;
  std::unique_ptr<pool::server_connection> holder;
  const auto ec = login("postgres", "postgres", error, server, io, holder);
  ASSERT_FALSE(ec) << ec.message() << " / " << error.message;
  EXPECT_NE(server->key.process_id, 0);
  ASSERT_NE(server->params.find("server_version"), nullptr);
  EXPECT_THAT(*server->params.find("server_version"), HasSubstr("15"));
}

TEST(ScramAgainstPostgres, WrongPasswordIsPostgresOwnError) {
  net::asio::io_context io;
  pool::server_error error;
  pool::server_connection* server = nullptr;
  std::unique_ptr<pool::server_connection> holder;
  const auto ec = login("postgres", "not-the-password", error, server, io, holder);
  ASSERT_TRUE(ec);
  EXPECT_EQ(error.sqlstate, "28P01");
  EXPECT_EQ(error.message, "password authentication failed for user \"postgres\"");
}

TEST(ScramAgainstPostgres, OurServerAcceptsPostgresVerifier) {
  auto& pg = test::shared_pg();
  pg.exec("DROP ROLE IF EXISTS verifier_user");
  pg.exec("SET password_encryption = 'scram-sha-256'; CREATE ROLE verifier_user LOGIN PASSWORD 'pencil-42'");
  const std::string stored = pg.query_value("SELECT rolpassword FROM pg_authid WHERE rolname = 'verifier_user'");
  auth::scram_verifier verifier;
  ASSERT_FALSE(auth::parse_scram_verifier(stored, verifier)) << stored;

  // PostgreSQL's verifier, our server; our client with the right password, then a wrong one.
  for (const auto& [password, accepted] : {std::pair{"pencil-42", true}, std::pair{"pencil-43", false}}) {
    auth::scram_server server{auth::scram_credential{verifier}};
    auth::scram_client client("verifier_user", password);
    std::string mechanism, first, server_first, client_final, server_final;
    ASSERT_FALSE(client.select_mechanism(server.mechanisms(), mechanism));
    ASSERT_FALSE(client.client_first(first));
    ASSERT_FALSE(server.handle_client_first(mechanism, first, server_first));
    ASSERT_FALSE(client.handle_server_first(server_first, client_final));
    const auto ec = server.handle_client_final(client_final, server_final);
    if (accepted) {
      ASSERT_FALSE(ec) << ec.message();
      EXPECT_FALSE(client.handle_server_final(server_final));
    } else {
      EXPECT_TRUE(ec);
    }
  }
}

TEST(Binary, CheckConfigAcceptsTheExampleConfig) {
  auto [status, output] = run(std::string(PGFUNNEL_EXE) + " --check-config --config " + PGFUNNEL_SOURCE_DIR +
                              "/config/pgfunnel.yaml");
  EXPECT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr("configuration OK"));
  EXPECT_THAT(output, HasSubstr("pool_size"));
}

TEST(Binary, CheckConfigReportsEveryErrorWithItsLine) {
  auto [status, output] = run(std::string("env -u PGFUNNEL_TEST_UNSET_LIFETIME ") + PGFUNNEL_EXE +
                              " --check-config --config " + PGFUNNEL_SOURCE_DIR + "/tests/unit/config/data/broken.yaml");
  EXPECT_EQ(status, 1) << output;
  EXPECT_THAT(output, HasSubstr("broken.yaml:2: upstream:"));
  EXPECT_THAT(output, HasSubstr("broken.yaml:4: listen.pooled:"));
  EXPECT_THAT(output, HasSubstr("broken.yaml:8: pool_szie:"));
  EXPECT_THAT(output, HasSubstr("did you mean 'pool_size'"));
  EXPECT_THAT(output, HasSubstr("broken.yaml:10: query_wait_timeout:"));
  EXPECT_THAT(output, HasSubstr("configuration errors"));
}

TEST(Binary, FlagsBeatEnvironment) {
  auto [status, output] = run("PGFUNNEL_POOL_SIZE=7 " + std::string(PGFUNNEL_EXE) + " --check-config --pool-size 9");
  EXPECT_EQ(status, 0) << output;
  EXPECT_THAT(output, ::testing::ContainsRegex("pool_size +=  *9  # --pool-size"));
  auto [status2, output2] = run("PGFUNNEL_POOL_SIZE=7 " + std::string(PGFUNNEL_EXE) + " --check-config");
  EXPECT_EQ(status2, 0) << output2;
  EXPECT_THAT(output2, ::testing::ContainsRegex("pool_size +=  *7  # env PGFUNNEL_POOL_SIZE"));
}

TEST(Binary, HelpAndVersion) {
  auto [status, output] = run(std::string(PGFUNNEL_EXE) + " --help");
  EXPECT_EQ(status, 0);
  for (const char* flag : {"--upstream", "--listen-pooled", "--listen-direct", "--pool-size", "--max-client-conn",
                           "--log-level", "--check-config", "--version", "PGFUNNEL_POOL_SIZE"})
    EXPECT_THAT(output, HasSubstr(flag));
  auto [vstatus, voutput] = run(std::string(PGFUNNEL_EXE) + " --version");
  EXPECT_EQ(vstatus, 0);
  EXPECT_THAT(voutput, HasSubstr("pgfunnel "));
}

TEST(Binary, UnknownFlagSuggestsTheNearestOne) {
  auto [status, output] = run(std::string(PGFUNNEL_EXE) + " --pool-sise 3");
  EXPECT_NE(status, 0);
  EXPECT_THAT(output, HasSubstr("--pool-size"));
}

}  // namespace
