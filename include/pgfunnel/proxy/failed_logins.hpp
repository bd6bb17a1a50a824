// auth_failure_limit on the pooled listener: refusing an address that failed too often, counting failures.
#pragma once

#include <string>

#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/net/stream.hpp"
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::proxy {

// The client's IP address as failures are counted: without the port, an IPv4-mapped IPv6 address
// as IPv4 (a dual-stack listener must not give one client two counts). "?" when unknown.
std::string client_address(net::stream& socket);

// Call before any password is asked (or any auth_query runs). False when the client's address has
// reached auth_failure_limit failures in its auth_failure_window: the client has been sent FATAL
// 28000 "too many failed login attempts ..." and the first refusal of the window has been logged.
net::awaitable<bool> admit_login(net::stream& socket, proxy_context& context, log::conn_id id);

// A failed password login (wrong password, unknown user): one more against the client's address.
void count_failed_login(net::stream& socket, proxy_context& context);

}  // namespace pgfunnel::proxy
