// Unit tests for loading YAML: the example config, located errors, did-you-mean, users, expansion.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string verifier =
    "SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";

std::string source_file(const std::string& relative) { return std::string(PGFUNNEL_SOURCE_DIR) + "/" + relative; }

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

load_result load_yaml(std::string_view yaml, const environment& env = {}) {
  return load_text(yaml, "test.yaml", cli_args{}, env);
}

std::vector<std::string> messages(const load_result& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

TEST(Yaml, ExampleConfigLoadsCleanWithDefaults) {
  cli_args cli;
  cli.config_path = source_file("config/pgfunnel.yaml");
  const auto r = load(cli, environment{});
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.value, settings{});  // every value in the example is the default
  EXPECT_EQ(r.value.upstream.redacted(), "postgres://postgres@127.0.0.1:5432/postgres");
  // The line of "pool_size:" in the example file, wherever comments move it.
  std::ifstream example(source_file("config/pgfunnel.yaml"));
  int line = 0, pool_size_line = 0;
  for (std::string text; std::getline(example, text) && pool_size_line == 0;)
    if (++line, text.rfind("pool_size:", 0) == 0) pool_size_line = line;
  EXPECT_EQ(r.sources.at("pool_size"), source_file("config/pgfunnel.yaml") + ":" + std::to_string(pool_size_line));
}

TEST(Yaml, ExampleConfigDocumentsEveryKey) {
  const std::string text = read(source_file("config/pgfunnel.yaml"));
  for (const auto& k : keys()) {
    EXPECT_THAT(text, HasSubstr(k.flag())) << k.path;
    EXPECT_THAT(text, HasSubstr(k.env_var() + (k.reloadable ? " (reloads)" : " (restart needed)"))) << k.path;
  }
}

TEST(Yaml, ExampleConfigUpstreamComesFromEnvironment) {
  cli_args cli;
  cli.config_path = source_file("config/pgfunnel.yaml");
  const auto r = load(cli, environment({{"PGFUNNEL_UPSTREAM", "postgres://app@db:6000/appdb"}}));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.value.upstream.host, "db");
  EXPECT_EQ(r.value.upstream.port, 6000);
}

TEST(Yaml, BrokenFileReportsEveryErrorWithItsLine) {
  cli_args cli;
  const std::string path = source_file("tests/unit/config/data/broken.yaml");
  cli.config_path = path;
  const auto r = load(cli, environment{});
  ASSERT_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& e : r.errors) {
    ASSERT_TRUE(e.where.starts_with(path + ":")) << e.to_string();
    got.push_back(e.where.substr(path.size() + 1) + ": " + e.path + ": " + e.message);
  }
  EXPECT_THAT(
      got,
      ElementsAre(
          "2: upstream: unsupported scheme 'mysql://' (expected postgres:// or postgresql://)",
          "4: listen.pooled: bad port '70000' (must be a number from 0 to 65535; 0 lets the system pick)",
          "6: workers: must be at least 1",
          "7: auth_type: bad value 'scram' (allowed: scram-sha-256, md5, password, trust, cert)",
          "8: pool_szie: unknown key; did you mean 'pool_size'?",
          "9: min_pool_size: expected a whole number, got 'lots'",
          HasSubstr("10: query_wait_timeout: unknown duration unit 'parsecs'"),
          "12: log.level: expected LEVEL, got a list",
          "14: users[0]: give either password or scram_verifier, not both",
          "18: users[1].pasword: unknown key; did you mean 'password'?",
          "17: users[1]: needs a password or a scram_verifier",
          HasSubstr("19: server_lifetime: environment variable PGFUNNEL_TEST_UNSET_LIFETIME is not set"),
          "20: max_message_size: must be at most 1GB"));
  EXPECT_EQ(r.errors[0].to_string(),
            path + ":2: upstream: unsupported scheme 'mysql://' (expected postgres:// or postgresql://)");
}

TEST(Yaml, SyntaxErrorHasItsLine) {
  const auto r = load_yaml("pool_size: 20\nlisten:\n  pooled: [127.0.0.1:6432\nworkers: 2\n");
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(messages(r));
  EXPECT_THAT(r.errors[0].where, ::testing::StartsWith("test.yaml:"));
  EXPECT_THAT(r.errors[0].message, HasSubstr("YAML syntax error"));

  const auto tab = load_yaml("pool_size: 20\nlisten:\n  pooled: a\n   bad: : :\n");
  ASSERT_FALSE(tab.ok());
  EXPECT_EQ(tab.errors[0].where, "test.yaml:4") << tab.errors[0].to_string();
}

TEST(Yaml, SyntaxErrorSkipsCrossFieldChecks) {
  cli_args cli;
  cli.settings.push_back({"min_pool_size", "30"});  // fine against the file's pool_size, which never got read
  const auto r = load_text("pool_size: 50\nlisten: [\n", "test.yaml", cli, environment{});
  EXPECT_THAT(messages(r), ElementsAre(HasSubstr("YAML syntax error")));
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Yaml, DirectoryIsNotAConfigFile) {
  cli_args cli;
  cli.config_path = PGFUNNEL_SOURCE_DIR;
  EXPECT_THAT(messages(load(cli, environment{})), ElementsAre(HasSubstr("it is a directory")));
}

TEST(Yaml, EmptyFileMeansDefaults) {
  for (std::string_view text : {"", "# only a comment\n", "---\n"}) {
    const auto r = load_yaml(text);
    EXPECT_TRUE(r.ok()) << text << ::testing::PrintToString(messages(r));
    EXPECT_EQ(r.value, settings{});
  }
}

TEST(Yaml, TopLevelMustBeAMapping) {
  EXPECT_THAT(messages(load_yaml("- a\n- b\n")), ElementsAre(HasSubstr("expected a mapping of settings")));
  EXPECT_THAT(messages(load_yaml("a: 1\n---\nb: 2\n")), ElementsAre(HasSubstr("more than one YAML document")));
}

TEST(Yaml, AllKeys) {
  const auto r = load_yaml(R"(
upstream: postgresql://app:s3cret@db.internal:6543/appdb?sslmode=require
listen:
  pooled: 0.0.0.0:7000
  direct: off
workers: 4
auth_type: md5
users:
  - name: alice
    password: wonderland
pool_size: 50
min_pool_size: 5
max_client_conn: 5000
direct:
  max_client_conn: 7
query_wait_timeout: 30s
server_connect_timeout: 250ms
server_idle_timeout: 5m
server_lifetime: 0
max_message_size: 64MB
log:
  level: debug
  format: json
)");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  const settings& s = r.value;
  using namespace std::chrono_literals;
  EXPECT_EQ(s.upstream.host, "db.internal");
  EXPECT_EQ(s.upstream.password, "s3cret");
  EXPECT_EQ(s.listen_pooled, (listen_address{"0.0.0.0", 7000}));
  EXPECT_FALSE(s.listen_direct.enabled());
  EXPECT_EQ(s.workers, 4u);
  EXPECT_EQ(s.auth_type, auth_method::md5);
  ASSERT_EQ(s.users.size(), 1u);
  EXPECT_EQ(s.users[0], (user_entry{"alice", "wonderland", ""}));
  EXPECT_EQ(s.pool_size, 50u);
  EXPECT_EQ(s.min_pool_size, 5u);
  EXPECT_EQ(s.max_client_conn, 5000u);
  EXPECT_EQ(s.direct_max_client_conn, 7u);
  EXPECT_EQ(s.query_wait_timeout, 30s);
  EXPECT_EQ(s.server_connect_timeout, 250ms);
  EXPECT_EQ(s.server_idle_timeout, 5min);
  EXPECT_EQ(s.server_lifetime, 0ms);
  EXPECT_EQ(s.max_message_size, 64u << 20);
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.log_fmt, log_format::json);
  EXPECT_EQ(r.sources.at("direct.max_client_conn"), "test.yaml:15");  // the raw string starts with a newline
}

TEST(Yaml, DottedKeysAreAccepted) {
  const auto r = load_yaml("log.level: warn\nlisten.pooled: '[::1]:6000'\n");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.value.log_level, "warn");
  EXPECT_EQ(r.value.listen_pooled.host, "::1");
}

TEST(Yaml, UnknownKeysSuggestTheNearest) {
  EXPECT_THAT(messages(load_yaml("pool_szie: 3\nlisten:\n  poold: 1.2.3.4:5\nlisten_direct: off\nverbose: 1\n")),
              ElementsAre("test.yaml:1: pool_szie: unknown key; did you mean 'pool_size'?",
                          "test.yaml:3: listen.poold: unknown key; did you mean 'listen.pooled'?",
                          "test.yaml:4: listen_direct: unknown key; did you mean 'listen.direct'?",
                          "test.yaml:5: verbose: unknown key"));
}

TEST(Yaml, WrongShapes) {
  EXPECT_THAT(messages(load_yaml("listen: 127.0.0.1:6432\n")),
              ElementsAre("test.yaml:1: listen: expected a mapping with keys direct, http, pooled, got a value"));
  EXPECT_THAT(messages(load_yaml("pool_size:\n  a: 1\n")),
              ElementsAre("test.yaml:1: pool_size: expected N, got a mapping"));
  EXPECT_THAT(messages(load_yaml("users: {name: a}\n")),
              ElementsAre("test.yaml:1: users: expected a list of users, got a mapping"));
  EXPECT_THAT(messages(load_yaml("users:\n  - alice\n")),
              ElementsAre(HasSubstr("test.yaml:2: users[0]: expected a mapping")));
  EXPECT_THAT(messages(load_yaml("pool_size: 3\npool_size: 4\n")),
              ElementsAre("test.yaml:2: pool_size: given twice (first at line 1)"));
}

TEST(Yaml, RangesAndEnums) {
  EXPECT_THAT(messages(load_yaml("pool_size: 0\n")), ElementsAre("test.yaml:1: pool_size: must be at least 1"));
  EXPECT_THAT(messages(load_yaml("workers: 257\n")), ElementsAre("test.yaml:1: workers: must be at most 256"));
  EXPECT_THAT(messages(load_yaml("log:\n  level: verbose\n")),
              ElementsAre("test.yaml:2: log.level: bad value 'verbose' (allowed: trace, debug, info, warn, error, "
                          "critical, off)"));
  EXPECT_THAT(messages(load_yaml("log:\n  format: jsn\n")),
              ElementsAre("test.yaml:2: log.format: bad value 'jsn' (allowed: text, json); did you mean 'json'?"));
  EXPECT_TRUE(load_yaml("log:\n  level: WARN\n").ok());  // enum values ignore case
  EXPECT_THAT(messages(load_yaml("max_message_size: 100\n")),
              ElementsAre("test.yaml:1: max_message_size: must be at least 1kB"));
  EXPECT_THAT(messages(load_yaml("upstream: postgres://a,b/db\n")),
              ElementsAre(HasSubstr("test.yaml:1: upstream: multiple hosts are not supported")));
}

TEST(Yaml, CrossFieldChecks) {
  EXPECT_THAT(messages(load_yaml("pool_size: 5\nmin_pool_size: 6\n")),
              ElementsAre("test.yaml:2: min_pool_size: must not exceed pool_size (5, from test.yaml:1)"));
  EXPECT_THAT(messages(load_yaml("min_pool_size: 21\n")),
              ElementsAre("test.yaml:1: min_pool_size: must not exceed pool_size (20, default)"));
  EXPECT_THAT(messages(load_yaml("listen:\n  pooled: off\n  direct: off\n")),
              ElementsAre(HasSubstr("test.yaml:2: listen.pooled: both listeners are off")));
  EXPECT_THAT(messages(load_yaml("listen:\n  pooled: 0.0.0.0:7000\n  direct: 127.0.0.1:7000\n")),
              ElementsAre(HasSubstr("test.yaml:3: listen.direct: 127.0.0.1:7000 clashes with listen.pooled")));
  EXPECT_THAT(messages(load_yaml("listen:\n  http: 127.0.0.1:6433\n")),
              ElementsAre(HasSubstr("test.yaml:2: listen.http: 127.0.0.1:6433 clashes with listen.direct "
                                    "(127.0.0.1:6433, default)")));
  EXPECT_THAT(messages(load_yaml("auth_type: md5\nusers:\n  - {name: bob, scram_verifier: '" + verifier + "'}\n")),
              ElementsAre(HasSubstr("test.yaml:2: users: user 'bob' has only a scram_verifier, which cannot check md5")));
  // A key that failed on its own is left out of cross-field checks rather than compared as a stand-in.
  EXPECT_THAT(messages(load_yaml("pool_size: 0\nmin_pool_size: 6\n")),
              ElementsAre("test.yaml:1: pool_size: must be at least 1"));
}

TEST(Yaml, Warnings) {
  // No users and no password in the upstream URL: loopback clients get trust, others nothing.
  const auto loopback = load_yaml("auth_type: scram-sha-256\n");
  EXPECT_TRUE(loopback.ok());
  EXPECT_TRUE(loopback.warnings.empty());
  const auto none = load_yaml("auth_type: scram-sha-256\nlisten:\n  pooled: 0.0.0.0:6432\n");
  EXPECT_TRUE(none.ok());
  ASSERT_EQ(none.warnings.size(), 1u);
  EXPECT_THAT(none.warnings[0].to_string(), HasSubstr("users: no users and no password in the upstream URL"));

  const auto trust = load_yaml("auth_type: trust\nlisten:\n  pooled: 0.0.0.0:6432\n");
  EXPECT_TRUE(trust.ok());
  ASSERT_EQ(trust.warnings.size(), 1u);
  EXPECT_EQ(trust.warnings[0].to_string(),
            "test.yaml:1: auth_type: trust lets anyone who can reach 0.0.0.0:6432 log in as any user");
}

TEST(Yaml, Users) {
  const auto r = load_yaml("users:\n  - name: alice\n    password: ${ALICE_PW}\n  - name: bob\n    scram_verifier: '" +
                               verifier + "'\n",
                           environment({{"ALICE_PW", "from env"}}));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_THAT(r.value.users, ElementsAre(user_entry{"alice", "from env", ""}, user_entry{"bob", "", verifier}));

  EXPECT_THAT(messages(load_yaml("users:\n  - name: a\n    password: x\n  - name: a\n    password: y\n")),
              ElementsAre("test.yaml:4: users[1]: user 'a' is listed twice (first at line 2)"));
  EXPECT_THAT(messages(load_yaml("users:\n  - password: x\n")),
              ElementsAre("test.yaml:2: users[0]: user name is empty"));
  EXPECT_THAT(messages(load_yaml("users:\n  - name: a\n    scram_verifier: SCRAM-SHA-256$nonsense\n")),
              ElementsAre(HasSubstr("test.yaml:2: users[0]: malformed scram_verifier")));
  EXPECT_THAT(messages(load_yaml("users:\n  - name: a\n    password: '" + verifier + "'\n")),
              ElementsAre(HasSubstr("the password looks like a SCRAM verifier")));
  // The flag form also works in the file, which lets users come from one env var.
  const auto text = load_yaml("users: ${USERS}\n", environment({{"USERS", "x:1,y:2"}}));
  ASSERT_TRUE(text.ok()) << ::testing::PrintToString(messages(text));
  EXPECT_EQ(text.value.users.size(), 2u);
  EXPECT_TRUE(load_yaml("users: []\n").value.users.empty());
}

TEST(Yaml, ExpansionEverywhere) {
  const environment env({{"POOL", "33"}, {"LEVEL", "error"}, {"PGHOST", "10.1.2.3"}});
  const auto r = load_yaml(
      "pool_size: ${POOL}\nmax_client_conn: ${MAXC:-77}\nlog:\n  level: ${LEVEL}\n"
      "upstream: postgres://u@${PGHOST}:${PGPORT:-5555}/db\n",
      env);
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.value.pool_size, 33u);
  EXPECT_EQ(r.value.max_client_conn, 77u);
  EXPECT_EQ(r.value.log_level, "error");
  EXPECT_EQ(r.value.upstream.host, "10.1.2.3");
  EXPECT_EQ(r.value.upstream.port, 5555);

  EXPECT_THAT(messages(load_yaml("pool_size: 5\nworkers: ${NO_SUCH_VAR}\n")),
              ElementsAre("test.yaml:2: workers: environment variable NO_SUCH_VAR is not set (write "
                          "${NO_SUCH_VAR:-default} to give a fallback)"));
}

TEST(Yaml, MissingFileIsAnError) {
  cli_args cli;
  cli.config_path = "/nonexistent/pgfunnel.yaml";
  cli.settings.push_back({"workers", "0"});
  const auto r = load(cli, environment{});
  EXPECT_THAT(messages(r), ElementsAre(HasSubstr("/nonexistent/pgfunnel.yaml: cannot read the config file"),
                                       "--workers: must be at least 1"));
}

}  // namespace
}  // namespace pgfunnel::config
