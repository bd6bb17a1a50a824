// Unit tests for auth_user, auth_query, auth_failure_limit and auth_failure_window: sources, parsing, validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

cli_args parse_ok(const std::vector<std::string>& args) {
  std::vector<diagnostic> errors;
  cli_args cli = parse_command_line(args, errors);
  EXPECT_TRUE(errors.empty()) << errors.front().to_string();
  return cli;
}

TEST(AuthKeys, Defaults) {
  const settings s;
  EXPECT_EQ(s.auth_user, "");
  EXPECT_EQ(s.auth_query, "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  EXPECT_EQ(s.auth_failure_limit, 10u);
  EXPECT_EQ(s.auth_failure_window, 60s);
  for (const char* path : {"auth_user", "auth_query", "auth_failure_limit", "auth_failure_window"}) {
    const key_info* k = find_key(path);
    ASSERT_NE(k, nullptr) << path;
    EXPECT_TRUE(k->reloadable) << path;
  }
}

TEST(AuthKeys, FromFileEnvAndFlags) {
  // "$1" in the file stays as is: a lone '$' is literal, only ${...} and $$ expand.
  const auto file = load_text("auth_user: pgf_auth\nauth_query: SELECT u, p FROM auth.get($1)\n", "f.yaml", cli_args{},
                              environment{});
  ASSERT_TRUE(file.ok()) << file.errors.front().to_string();
  EXPECT_EQ(file.value.auth_user, "pgf_auth");
  EXPECT_EQ(file.value.auth_query, "SELECT u, p FROM auth.get($1)");

  const environment env({{"PGFUNNEL_AUTH_USER", "env_auth"}, {"PGFUNNEL_AUTH_FAILURE_WINDOW", "5m"}});
  const auto r = load_text("", "f.yaml", parse_ok({"--auth-failure-limit", "3"}), env);
  ASSERT_TRUE(r.ok()) << r.errors.front().to_string();
  EXPECT_EQ(r.value.auth_user, "env_auth");
  EXPECT_EQ(r.value.auth_failure_window, 5min);
  EXPECT_EQ(r.value.auth_failure_limit, 3u);
  EXPECT_EQ(r.sources.at("auth_failure_limit"), "--auth-failure-limit");

  const auto off = load_text("auth_failure_limit: 0\n", "f.yaml", cli_args{}, environment{});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off.value.auth_failure_limit, 0u);
}

TEST(AuthKeys, BadValuesAndAnEmptyQueryWithAuthUserAreErrors) {
  const auto bad =
      load_text("auth_failure_limit: many\nauth_failure_window: soon\n", "f.yaml", cli_args{}, environment{});
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_EQ(bad.errors[0].path, "auth_failure_limit");
  EXPECT_EQ(bad.errors[1].path, "auth_failure_window");

  const auto empty = load_text("auth_user: postgres\nauth_query: ''\n", "f.yaml", cli_args{}, environment{});
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_EQ(empty.errors[0].path, "auth_query");
  EXPECT_THAT(empty.errors[0].message, HasSubstr("must not be empty when auth_user is set (from f.yaml:1)"));
  // Without auth_user the query is unused: no error.
  EXPECT_TRUE(load_text("auth_query: ''\n", "f.yaml", cli_args{}, environment{}).ok());
}

TEST(AuthKeys, HelpListsThem) {
  const std::string help = help_text("pgfunnel");
  EXPECT_THAT(help, HasSubstr("--auth-user USER"));
  EXPECT_THAT(help, HasSubstr("env PGFUNNEL_AUTH_QUERY; default SELECT usename, passwd FROM pg_shadow WHERE "
                              "usename=$1; reloads"));
  EXPECT_THAT(help, HasSubstr("--auth-failure-limit N"));
  EXPECT_THAT(help, HasSubstr("env PGFUNNEL_AUTH_FAILURE_WINDOW; default 60s; reloads"));
}

}  // namespace
}  // namespace pgfunnel::config
