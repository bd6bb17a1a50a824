// The rounds of on_both_servers: two holders, one commits before each round and begins again after it.
#include "server_rounds.hpp"

#include <gtest/gtest.h>

#include "libpq_helpers.hpp"

namespace pgfunnel::test {

void on_both_servers(const std::string& pooled_conninfo, int rounds, const std::function<void(int)>& body) {
  pq_conn holders[2] = {pq_conn(pooled_conninfo), pq_conn(pooled_conninfo)};
  for (pq_conn& h : holders) ASSERT_TRUE(h.ok() && h.exec("BEGIN; SELECT 1").ok) << h.error().text;
  for (int i = 0; i < rounds; ++i) {
    pq_conn& freeing = holders[i % 2];
    ASSERT_TRUE(freeing.exec("COMMIT").ok);
    body(i);
    ASSERT_TRUE(freeing.exec("BEGIN; SELECT 1").ok) << "a server stayed leased after the round";
  }
  for (pq_conn& h : holders) ASSERT_TRUE(h.exec("COMMIT").ok);
}

}  // namespace pgfunnel::test
