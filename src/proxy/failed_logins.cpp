// auth_failure_limit: refuse, with FATAL 28000, logins from an address with too many failed password logins.
#include "pgfunnel/proxy/failed_logins.hpp"

#include "pgfunnel/config/parse.hpp"
#include "pgfunnel/proxy/client_login.hpp"

namespace pgfunnel::proxy {

namespace {

auth::throttle_limits limits_of(const config::settings& s) { return {s.auth_failure_limit, s.auth_failure_window}; }

}  // namespace

std::string client_address(net::stream& socket) {
  net::error_code ec;
  const auto remote = socket.socket().remote_endpoint(ec);
  if (ec) return "?";
  auto address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = net::asio::ip::make_address_v4(net::asio::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

void count_failed_login(net::stream& socket, proxy_context& context) {
  const auto s = context.settings();
  const std::string address = client_address(socket);
  // No address (the client is gone): nothing to count against.
  if (address != "?") context.login_throttle.record_failure(address, auth::login_throttle::clock::now(), limits_of(*s));
}

net::awaitable<bool> admit_login(net::stream& socket, proxy_context& context, log::conn_id id) {
  const auto s = context.settings();
  const auth::throttle_limits limits = limits_of(*s);
  if (!limits.enabled()) co_return true;
  const std::string address = client_address(socket);
  if (address == "?") co_return true;  // the client is gone: the exchange will fail on its own
  const auth::throttle_decision d = context.login_throttle.check(address, auth::login_throttle::clock::now(), limits);
  if (!d.refused) co_return true;
  const auto retry_s = std::chrono::ceil<std::chrono::seconds>(d.retry_after).count();
  if (d.log)
    log::warn(id,
              "login refused: too many failed login attempts from {} ({} within {}, auth_failure_limit); its logins "
              "are refused for {} s more (further refusals of this window not logged)",
              address, limits.failures, config::format_duration(limits.window), retry_s);
  // 28000, as PostgreSQL refuses a login it will not let in whatever the password (pg_hba reject,
  // a role without LOGIN): drivers do not retry it. 53300 would read as "too many connections, retry"
  // and invite the very retry loop being throttled; 28P01 would say the password was wrong, when a
  // right one is refused too.
  const std::string message =
      fmt::format("too many failed login attempts from {}; try again in {} s", address, retry_s);
  const std::string detail = fmt::format(
      "pgfunnel refuses logins from an address with {} failed logins within {} (auth_failure_limit). pgfunnel "
      "client {}",
      limits.failures, config::format_duration(limits.window), log::to_string(id));
  const protocol::error_message error{"FATAL", "28000", message, detail};
  co_await send_error(socket, error);
  co_return false;
}

}  // namespace pgfunnel::proxy
