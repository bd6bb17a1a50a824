// Unit tests for the key table: defaults match settings{}, round trips, describe, changed_keys.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {
namespace {

using ::testing::HasSubstr;

TEST(Keys, DefaultTextsGiveTheStructDefaults) {
  for (const auto& k : keys()) {
    settings s;
    std::vector<std::string> errors;
    k.apply(s, k.default_text, errors);
    EXPECT_TRUE(errors.empty()) << k.path << ": " << errors.front();
    EXPECT_EQ(k.show(s, false), k.show(settings{}, false)) << k.path;
  }
  const auto r = load(cli_args{}, environment{});
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.value, settings{});
  EXPECT_EQ(r.value.upstream, default_upstream());
}

TEST(Keys, NamesAreUniqueAndShowRoundTrips) {
  std::set<std::string> flags, envs;
  settings s;
  s.users = {{"a", "x", ""}};
  s.upstream.password = "pw";
  for (const auto& k : keys()) {
    EXPECT_TRUE(flags.insert(k.flag()).second) << k.path;
    EXPECT_TRUE(envs.insert(k.env_var()).second) << k.path;
    EXPECT_FALSE(k.help.empty()) << k.path;
    settings copy;
    std::vector<std::string> errors;
    k.apply(copy, k.show(s, false), errors);
    EXPECT_TRUE(errors.empty()) << k.path;
    EXPECT_EQ(k.show(copy, false), k.show(s, false)) << k.path;
  }
}

TEST(Keys, ReloadableMatchesTheStruct) {
  std::set<std::string> restart;
  for (const auto& k : keys())
    if (!k.reloadable) restart.emplace(k.path);
  EXPECT_EQ(restart, (std::set<std::string>{"upstream", "listen.pooled", "listen.direct", "listen.http", "workers",
                                              "log.format"}));
}

TEST(Keys, DescribeRedactsSecrets) {
  settings s;
  s.upstream.password = "topsecret";
  s.users = {{"alice", "hunter2", ""}, {"bob", "", "SCRAM-SHA-256$x"}};
  const std::string d = describe(s);
  EXPECT_EQ(d.find("topsecret"), std::string::npos);
  EXPECT_EQ(d.find("hunter2"), std::string::npos);
  EXPECT_THAT(d, HasSubstr("upstream                  = postgres://postgres:***@127.0.0.1:5432/postgres\n"));
  EXPECT_THAT(d, HasSubstr("users                     = alice (password), bob (SCRAM verifier)\n"));
  EXPECT_THAT(d, HasSubstr("query_wait_timeout        = 2m\n"));
  EXPECT_THAT(d, HasSubstr("max_message_size          = 1GB\n"));
  EXPECT_THAT(d, HasSubstr("listen.direct             = 127.0.0.1:6433\n"));
  for (const auto& k : keys()) EXPECT_THAT(d, HasSubstr(std::string(k.path) + " ")) << k.path;
}

TEST(Keys, ChangedKeys) {
  settings a, b;
  EXPECT_TRUE(changed_keys(a, b).empty());
  b.pool_size = 3;
  b.upstream.password = "new";
  b.users = {{"x", "a,b:c", ""}};
  a.users = {{"x", "a", ""}, {"b", "c", ""}};  // same text form, different users
  std::vector<std::string_view> paths;
  for (const auto* k : changed_keys(a, b)) paths.push_back(k->path);
  EXPECT_THAT(paths, ::testing::ElementsAre("upstream", "users", "pool_size"));
}

TEST(Diagnostic, ToString) {
  EXPECT_EQ((diagnostic{"f.yaml:3", "pool_size", "bad"}).to_string(), "f.yaml:3: pool_size: bad");
  EXPECT_EQ((diagnostic{"--pool-size", "pool_size", "bad"}).to_string(), "--pool-size: bad");
  EXPECT_EQ((diagnostic{"env PGFUNNEL_POOL_SIZE", "pool_size", "bad"}).to_string(), "env PGFUNNEL_POOL_SIZE: bad");
  EXPECT_EQ((diagnostic{"", "pool_size", "bad"}).to_string(), "pool_size: bad");
  EXPECT_EQ((diagnostic{"f.yaml", "", "cannot read"}).to_string(), "f.yaml: cannot read");
}

}  // namespace
}  // namespace pgfunnel::config
