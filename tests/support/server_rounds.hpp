// Test rounds on a two-server pool with exactly one server free, so the clients of each round meet both servers in turn.
#pragma once

#include <functional>
#include <string>

namespace pgfunnel::test {

// Runs `body` `rounds` times with exactly one server of a pool_size 2 pool free, alternating which
// one: two holders (connections of `pooled_conninfo`) keep a transaction open on each server and one
// of them commits before each round, so the clients in `body` must all use that server, and over two
// rounds they meet both, whatever order pgfunnel releases servers in. A client left holding the
// server after a round (pinned, or a lease that did not end) makes that holder's BEGIN wait out
// query_wait_timeout and the round fail.
void on_both_servers(const std::string& pooled_conninfo, int rounds, const std::function<void(int)>& body);

}  // namespace pgfunnel::test
