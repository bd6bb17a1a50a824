// Unit tests for flags, PGFUNNEL_* env vars, precedence (flag > env > file > default) and --help.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

cli_args parse(const std::vector<std::string>& args, std::vector<diagnostic>& errors,
               std::span<const flag_spec> extra = {}) {
  return parse_command_line(args, errors, extra);
}

cli_args parse_ok(const std::vector<std::string>& args) {
  std::vector<diagnostic> errors;
  auto cli = parse(args, errors);
  EXPECT_TRUE(errors.empty()) << errors.front().to_string();
  return cli;
}

std::vector<std::string> messages(const std::vector<diagnostic>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d.to_string());
  return out;
}

TEST(Cli, FlagAndEnvNames) {
  EXPECT_EQ(find_key("listen.pooled")->flag(), "--listen-pooled");
  EXPECT_EQ(find_key("max_client_conn")->flag(), "--max-client-conn");
  EXPECT_EQ(find_key("direct.max_client_conn")->flag(), "--direct-max-client-conn");
  EXPECT_EQ(find_key("log.level")->flag(), "--log-level");
  EXPECT_EQ(find_key("listen.pooled")->env_var(), "PGFUNNEL_LISTEN_POOLED");
  EXPECT_EQ(find_key("max_client_conn")->env_var(), "PGFUNNEL_MAX_CLIENT_CONN");
  EXPECT_EQ(find_key("direct.max_client_conn")->env_var(), "PGFUNNEL_DIRECT_MAX_CLIENT_CONN");
  EXPECT_EQ(find_key("log.level")->env_var(), "PGFUNNEL_LOG_LEVEL");
  EXPECT_EQ(find_key_by_flag("pool-size"), find_key("pool_size"));
  EXPECT_EQ(find_key_by_env("PGFUNNEL_LOG_FORMAT"), find_key("log.format"));
}

TEST(Cli, BuiltinFlagsAndBothValueForms) {
  const auto cli = parse_ok({"--config", "/etc/pgfunnel.yaml", "--check-config", "--pool-size=7",
                             "--listen-pooled", "[::1]:7000", "dev", "--version", "-h", "--", "--not-a-flag"});
  EXPECT_EQ(cli.config_path, "/etc/pgfunnel.yaml");
  EXPECT_TRUE(cli.check_config);
  EXPECT_TRUE(cli.version);
  EXPECT_TRUE(cli.help);
  ASSERT_EQ(cli.settings.size(), 2u);
  EXPECT_EQ(cli.settings[0].key, "pool_size");
  EXPECT_EQ(cli.settings[0].value, "7");
  EXPECT_EQ(cli.settings[1].key, "listen.pooled");
  EXPECT_EQ(cli.settings[1].value, "[::1]:7000");
  EXPECT_THAT(cli.positional, ElementsAre("dev", "--not-a-flag"));
  EXPECT_EQ(parse_ok({"--config=x.yaml"}).config_path, "x.yaml");
  EXPECT_EQ(parse_ok({"--upstream=postgres://u@h/db?sslmode=require"}).settings[0].value,
            "postgres://u@h/db?sslmode=require");  // only the first '=' splits
}

TEST(Cli, ArgvOverload) {
  std::string a0 = "pgfunnel", a1 = "--workers", a2 = "3";
  char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
  std::vector<diagnostic> errors;
  const auto cli = parse_command_line(3, argv, errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(cli.settings.size(), 1u);
  EXPECT_EQ(cli.settings[0].value, "3");
}

TEST(Cli, FlagErrors) {
  std::vector<diagnostic> errors;
  parse({"--pool-szie", "3", "--check-config=yes", "--frobnicate", "-x", "--log-level"}, errors);
  EXPECT_THAT(messages(errors), ElementsAre("--pool-szie: unknown flag; did you mean --pool-size? (see --help)",
                                            "--check-config: takes no value",
                                            "--frobnicate: unknown flag (see --help)",
                                            HasSubstr("-x: unknown option"), "--log-level: needs a value"));
}

// pgfunnel's own command line: PgBouncer's positional FILE and nginx's -t habit.
cli_args parse_main(const std::vector<std::string>& args, std::vector<diagnostic>& errors) {
  cli_args cli = parse(args, errors);
  take_config_argument(cli, errors);
  return cli;
}

TEST(Cli, PositionalFileIsTheConfigFile) {
  std::vector<diagnostic> errors;
  const auto plain = parse_main({"/etc/pgfunnel/pgfunnel.yaml"}, errors);
  EXPECT_EQ(plain.config_path, "/etc/pgfunnel/pgfunnel.yaml");
  EXPECT_FALSE(plain.check_config);
  EXPECT_TRUE(plain.positional.empty());
  const auto check = parse_main({"--check-config", "config/pgfunnel.yaml"}, errors);
  EXPECT_EQ(check.config_path, "config/pgfunnel.yaml");
  EXPECT_TRUE(check.check_config);
  // Flags go on either side of FILE, and "--" lets a file name start with a dash.
  const auto mixed = parse_main({"--pool-size", "3", "a.yaml", "--check-config"}, errors);
  EXPECT_EQ(mixed.config_path, "a.yaml");
  EXPECT_TRUE(mixed.check_config);
  EXPECT_EQ(parse_main({"--", "-odd.yaml"}, errors).config_path, "-odd.yaml");
  EXPECT_TRUE(errors.empty()) << errors.front().to_string();
  // Nothing positional: the path stays unset, for PGFUNNEL_CONFIG to fill.
  EXPECT_FALSE(parse_main({"--check-config"}, errors).config_path.has_value());
  EXPECT_TRUE(errors.empty());
}

TEST(Cli, PositionalFileErrors) {
  std::vector<diagnostic> errors;
  parse_main({"a.yaml", "b.yaml", "c.yaml"}, errors);
  EXPECT_THAT(messages(errors), ElementsAre("b.yaml: unexpected argument (one FILE at most; see --help)",
                                            "c.yaml: unexpected argument (one FILE at most; see --help)"));
  errors.clear();
  const auto both = parse_main({"--config", "a.yaml", "b.yaml"}, errors);
  EXPECT_THAT(messages(errors), ElementsAre("b.yaml: a second config file (--config a.yaml was given; see --help)"));
  EXPECT_EQ(both.config_path, "a.yaml");
}

TEST(Cli, PositionalFileIsLoaded) {
  std::vector<diagnostic> errors;
  const auto cli = parse_main({"--check-config", std::string(PGFUNNEL_SOURCE_DIR) + "/config/pgfunnel.yaml"}, errors);
  const auto r = load(cli, environment());
  ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
  EXPECT_EQ(r.config_path, std::string(PGFUNNEL_SOURCE_DIR) + "/config/pgfunnel.yaml");
}

TEST(Cli, ExtraFlagsForMain) {
  const flag_spec extra[] = {{"foreground", false, "", "Stay in the foreground"},
                             {"pg-bin", true, "DIR", "PostgreSQL binaries for dev"}};
  std::vector<diagnostic> errors;
  const auto cli = parse({"dev", "--foreground", "--pg-bin", "/usr/lib/postgresql/15/bin"}, errors, extra);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(cli.extra.at("foreground"), "");
  EXPECT_EQ(cli.extra.at("pg-bin"), "/usr/lib/postgresql/15/bin");
  EXPECT_THAT(cli.positional, ElementsAre("dev"));
  const std::string help = help_text("pgfunnel", extra);
  EXPECT_THAT(help, HasSubstr("--pg-bin DIR"));
  EXPECT_THAT(help, HasSubstr("Stay in the foreground"));
}

TEST(Cli, PrecedenceFlagOverEnvOverFileOverDefault) {
  cli_args cli = parse_ok({"--pool-size", "13"});
  const environment env({{"PGFUNNEL_POOL_SIZE", "12"}, {"PGFUNNEL_WORKERS", "4"}});
  const auto r = load_text("pool_size: 11\nworkers: 3\nmin_pool_size: 1\n", "f.yaml", cli, env);
  ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
  EXPECT_EQ(r.value.pool_size, 13u);         // flag
  EXPECT_EQ(r.value.workers, 4u);            // env
  EXPECT_EQ(r.value.min_pool_size, 1u);      // file
  EXPECT_EQ(r.value.max_client_conn, 1000u); // default
  EXPECT_EQ(r.sources.at("pool_size"), "--pool-size");
  EXPECT_EQ(r.sources.at("workers"), "env PGFUNNEL_WORKERS");
  EXPECT_EQ(r.sources.at("min_pool_size"), "f.yaml:3");
  EXPECT_EQ(r.sources.count("max_client_conn"), 0u);

  const std::string d = describe(r);
  EXPECT_THAT(d, HasSubstr("pool_size                 = 13  # --pool-size\n"));
  EXPECT_THAT(d, HasSubstr("max_client_conn           = 1000\n"));
}

TEST(Cli, ConfigPathFromEnvAndLaterFlagWins) {
  const environment env({{"PGFUNNEL_CONFIG", std::string(PGFUNNEL_SOURCE_DIR) + "/config/pgfunnel.yaml"}});
  const auto r = load(parse_ok({"--workers", "2", "--workers=5"}), env);
  ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
  EXPECT_EQ(r.config_path, std::string(PGFUNNEL_SOURCE_DIR) + "/config/pgfunnel.yaml");
  EXPECT_EQ(r.value.workers, 5u);
}

TEST(Cli, EnvAndFlagErrorsNameTheirSource) {
  const environment env({{"PGFUNNEL_POOL_SIZE", "0"}, {"PGFUNNEL_LOG_FORMAT", "xml"}});
  const auto r = load(parse_ok({"--pool-size", "-1", "--upstream", "postgres://h:0/db", "--listen-direct=off"}), env);
  EXPECT_THAT(messages(r.errors),
              ElementsAre("env PGFUNNEL_POOL_SIZE: must be at least 1",
                          "env PGFUNNEL_LOG_FORMAT: bad value 'xml' (allowed: text, json)",
                          "--pool-size: must be at least 1",
                          "--upstream: bad port '0' (must be a number from 1 to 65535)"));
  EXPECT_EQ(r.errors[0].path, "pool_size");  // the path is still there for programs
}

TEST(Cli, CrossFieldErrorsPointAtTheFlag) {
  const auto r = load(parse_ok({"--min-pool-size", "30"}), environment({{"PGFUNNEL_POOL_SIZE", "10"}}));
  EXPECT_THAT(messages(r.errors),
              ElementsAre("--min-pool-size: must not exceed pool_size (10, from env PGFUNNEL_POOL_SIZE)"));
}

TEST(Cli, UnknownEnvNearMissIsAWarning) {
  const auto r = load(cli_args{}, environment({{"PGFUNNEL_POOLSIZE", "3"}, {"PGFUNNEL_SOMETHING_ELSE", "x"},
                                               {"PGFUNNEL_CONFIG", ""}}));
  EXPECT_TRUE(r.ok());
  EXPECT_THAT(messages(r.warnings),
              ::testing::Contains("env PGFUNNEL_POOLSIZE: not a pgfunnel setting, ignored; did you mean "
                                  "PGFUNNEL_POOL_SIZE?"));
  for (const auto& w : r.warnings) EXPECT_THAT(w.where, ::testing::Not(HasSubstr("SOMETHING_ELSE")));
}

const std::string verifier =
    "SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";

TEST(Cli, UsersFlag) {
  const auto r = load(parse_ok({"--users", "alice:se:cr:et, bob:" + verifier}), environment{});
  ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
  EXPECT_THAT(r.value.users, ElementsAre(user_entry{"alice", "se:cr:et", ""}, user_entry{"bob", "", verifier}));

  const auto env = load(cli_args{}, environment({{"PGFUNNEL_USERS", "carol:x"}}));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env.value.users.at(0).name, "carol");

  const auto bad = load(parse_ok({"--users", "nocolon,:nameless,dup:1,dup:2,v:SCRAM-SHA-256$bad"}), environment{});
  EXPECT_THAT(messages(bad.errors),
              ElementsAre(HasSubstr("--users: entry 1 ('nocolon') has no ':'"),
                          "--users: entry 2 (''): user name is empty", "--users: user 'dup' is listed twice",
                          HasSubstr("--users: entry 5 ('v'): malformed scram_verifier")));
}

TEST(Cli, HelpListsEverySetting) {
  const std::string help = help_text("pgfunnel");
  EXPECT_THAT(help, HasSubstr("Usage: pgfunnel [OPTIONS] [FILE]"));
  EXPECT_THAT(help, HasSubstr("--check-config [FILE]"));
  for (std::string_view f : {"--config FILE", "--check-config", "--version", "--help"})
    EXPECT_THAT(help, HasSubstr(f));
  for (const auto& k : keys()) {
    EXPECT_THAT(help, HasSubstr(k.flag() + " " + std::string(k.value_name))) << k.path;
    EXPECT_THAT(help, HasSubstr("env " + k.env_var() + ";")) << k.path;
    EXPECT_THAT(help, HasSubstr(std::string(k.help))) << k.path;
  }
  EXPECT_THAT(help, HasSubstr("env PGFUNNEL_POOL_SIZE; default 20; reloads"));
  EXPECT_THAT(help, HasSubstr("env PGFUNNEL_WORKERS; default 1; restart needed"));
  EXPECT_THAT(help, HasSubstr("(scram-sha-256|md5|password|trust|cert)"));
}

}  // namespace
}  // namespace pgfunnel::config
