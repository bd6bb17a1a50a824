// The admin console on the pooled listener: PgBouncer's SHOW and control commands, no server involved.
#pragma once

#include "pgfunnel/admin/commands.hpp"
#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/proxy/connection_registry.hpp"
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::admin {

// Runs the console for a client that has authenticated as `*self.user` to a console database.
// A user in neither admin_users nor stats_users gets FATAL 28000; any other is welcomed (listed in
// SHOW CLIENTS from then on) and served simple queries until it leaves. `self` must be filled in
// (id, user, database, fd) and not yet registered.
net::awaitable<void> run_console(net::stream& client, proxy::proxy_context& context, proxy::client_entry& self,
                                 log::conn_id id);

}  // namespace pgfunnel::admin
