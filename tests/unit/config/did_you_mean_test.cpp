// Unit tests for edit distance and "did you mean" suggestions.
#include <gtest/gtest.h>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {
namespace {

const std::vector<std::string> keys{"pool_size", "min_pool_size", "max_client_conn", "listen.pooled",
                                    "listen.direct", "workers", "log.level"};

TEST(DidYouMean, EditDistance) {
  EXPECT_EQ(edit_distance("pool_size", "pool_size"), 0u);
  EXPECT_EQ(edit_distance("pool_szie", "pool_size"), 1u);  // transposition counts once
  EXPECT_EQ(edit_distance("pol_size", "pool_size"), 1u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(DidYouMean, NearMisses) {
  EXPECT_EQ(did_you_mean("pool_szie", keys), "pool_size");
  EXPECT_EQ(did_you_mean("poolsize", keys), "pool_size");
  EXPECT_EQ(did_you_mean("Pool-Size", keys), "pool_size");
  EXPECT_EQ(did_you_mean("max_client_con", keys), "max_client_conn");
  EXPECT_EQ(did_you_mean("listen_pooled", keys), "listen.pooled");
  EXPECT_EQ(did_you_mean("listen.poold", keys), "listen.pooled");
  EXPECT_EQ(did_you_mean("worker", keys), "workers");
}

TEST(DidYouMean, NothingCloseEnough) {
  EXPECT_EQ(did_you_mean("verbose", keys), std::nullopt);
  EXPECT_EQ(did_you_mean("x", keys), std::nullopt);
  EXPECT_EQ(did_you_mean("", keys), std::nullopt);
  EXPECT_EQ(did_you_mean("pool_size", {}), std::nullopt);
}

}  // namespace
}  // namespace pgfunnel::config
