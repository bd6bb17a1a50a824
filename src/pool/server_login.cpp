// Server login: TCP connect, StartupMessage, the authentication exchange, and the welcome messages.
#include <array>
#include <charconv>

#include <openssl/crypto.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/md5.hpp"
#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/pool/server_connection.hpp"
#include "pgfunnel/protocol/encode.hpp"

namespace pgfunnel::pool {
namespace {

using net::error_code;

std::string_view as_view(protocol::byte_span s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

error_code network_failure(server_error& error, const server_login& login, std::string_view what, error_code ec) {
  error.sqlstate = "08006";
  error.message = fmt::format("could not {} server {}:{}: {}", what, login.host, login.port, ec.message());
  return ec;
}

error_code protocol_failure(server_error& error, std::string message) {
  error.sqlstate = "08P01";
  error.message = std::move(message);
  return make_error_code(boost::system::errc::protocol_error);
}

// A login that cannot succeed with what pgfunnel holds for the user. 28P01, as PostgreSQL answers a
// wrong secret, rather than 08006: it is a credentials problem that no retry or reconnect fixes
// (drivers and operators read class 08 as a transient network failure).
error_code credentials_failure(server_error& error, std::string message) {
  error.sqlstate = "28P01";
  error.message = std::move(message);
  return make_error_code(boost::system::errc::permission_denied);
}

// md5 and cleartext need the password itself; a ClientKey cannot stand in for it.
error_code no_password(server_error& error, const server_login& login, std::string_view method) {
  if (!login.scram_keys) return protocol_failure(error, "server asked for a password and none is configured");
  return credentials_failure(
      error, fmt::format("the upstream asks for {} password for user \"{}\", but pgfunnel has only a SCRAM verifier "
                         "for it (no password to send): use scram-sha-256 for this user upstream, or configure its "
                         "password",
                         method, login.user));
}

// Answers one AuthenticationRequest; `scram` lives across the SASL round trips. `keys` are the
// passthrough keys, used for SCRAM when there is no password.
error_code answer_authentication(const protocol::authentication& request, const server_login& login,
                                 const std::optional<auth::scram_client_keys>& keys,
                                 const std::vector<std::uint8_t>& cb_data, std::unique_ptr<auth::scram_client>& scram,
                                 std::string& out, server_error& error) {
  using protocol::auth_request;
  switch (request.type) {
    case auth_request::ok:
      return {};
    case auth_request::cleartext_password:
      if (login.password.empty()) return no_password(error, login, "a cleartext");
      protocol::encode_password_message(out, login.password);
      return {};
    case auth_request::md5_password: {
      if (login.password.empty()) return no_password(error, login, "an md5");
      auth::md5_salt salt{};
      std::copy(request.data.begin(), request.data.end(), salt.begin());
      protocol::encode_password_message(out, auth::md5_response(login.user, login.password, salt));
      return {};
    }
    case auth_request::sasl: {
      if (login.password.empty() && !keys) {
        if (!login.scram_keys) return protocol_failure(error, "server asked for a password and none is configured");
        return credentials_failure(
            error, fmt::format("pgfunnel has only a SCRAM verifier for user \"{}\" and no client has logged in with it "
                               "since it was configured, so there is no key to log in upstream with",
                               login.user));
      }
      std::vector<std::string_view> offered_views;
      if (auto ec = protocol::decode_sasl_mechanisms(request.data, offered_views))
        return protocol_failure(error, "malformed SASL mechanism list from server");
      std::vector<std::string> offered(offered_views.begin(), offered_views.end());
      scram = login.password.empty() ? std::make_unique<auth::scram_client>(login.user, *keys, cb_data)
                                     : std::make_unique<auth::scram_client>(login.user, login.password, cb_data);
      std::string mechanism, first;
      if (auto ec = scram->select_mechanism(offered, mechanism))
        return protocol_failure(error, "server offers no SASL mechanism pgfunnel supports");
      if (login.channel_binding == "require" && mechanism != "SCRAM-SHA-256-PLUS")
        return protocol_failure(error, cb_data.empty() ? "channel_binding=require needs TLS to the upstream"
                                                       : "channel_binding=require, but the server does not offer "
                                                         "SCRAM-SHA-256-PLUS");
      if (auto ec = scram->client_first(first)) return protocol_failure(error, ec.message());
      protocol::encode_sasl_initial_response(out, mechanism, first);
      return {};
    }
    case auth_request::sasl_continue: {
      if (!scram) return protocol_failure(error, "SASL continue without SASL");
      std::string final_message;
      if (auto ec = scram->handle_server_first(as_view(request.data), final_message)) {
        if (ec == auth::errc::passthrough_mismatch)
          return credentials_failure(
              error, fmt::format("the upstream's SCRAM verifier for user \"{}\" differs from pgfunnel's "
                                 "(salt/iterations): copy it from pg_authid.rolpassword",
                                 login.user));
        return protocol_failure(error, fmt::format("SCRAM exchange with server failed: {}", ec.message()));
      }
      protocol::encode_sasl_response(out, final_message);
      return {};
    }
    case auth_request::sasl_final:
      if (!scram) return protocol_failure(error, "SASL final without SASL");
      if (auto ec = scram->handle_server_final(as_view(request.data)))
        return protocol_failure(error, fmt::format("SCRAM exchange with server failed: {}", ec.message()));
      return {};
    default:
      return protocol_failure(error, fmt::format("server asked for an unsupported authentication method ({})",
                                                 static_cast<int>(request.type)));
  }
}

}  // namespace

net::awaitable<error_code> negotiate_upstream_tls(net::stream& stream, const server_login& login, server_error& error) {
  const net::upstream_tls_policy policy = net::tls_policy_for(login.sslmode);
  if (!policy.try_tls) co_return error_code{};
  if (!login.tls) co_return protocol_failure(error, fmt::format("sslmode={} but no TLS context", login.sslmode));
  std::string request;
  protocol::encode_ssl_request(request);
  if (auto ec = co_await net::write_all(stream, request)) co_return network_failure(error, login, "write to", ec);
  char answer = 0;
  if (auto ec = co_await stream.read_exact(net::asio::buffer(&answer, 1)))
    co_return network_failure(error, login, "read from", ec);
  if (answer == 'N') {
    if (policy.require_tls)
      co_return protocol_failure(error, fmt::format("server {}:{} does not support TLS, but sslmode={} requires it",
                                                    login.host, login.port, login.sslmode));
    co_return error_code{};  // prefer: go on in plaintext, as libpq does
  }
  if (answer != 'S')
    co_return protocol_failure(error, fmt::format("unexpected answer to SSLRequest from {}:{}", login.host, login.port));
  const bool name = !net::is_ip_literal(login.host);
  const std::string sni = name ? login.host : std::string();
  const std::string verify_host = policy.verify_host ? login.host : std::string();
  if (auto ec = co_await stream.tls_connect(login.tls.get(), sni, verify_host)) {
    const std::string why = stream.verify_failure();
    error.sqlstate = "08006";
    error.message = fmt::format("TLS handshake with server {}:{} failed (sslmode={}): {}{}", login.host, login.port,
                                login.sslmode, ec.message(), why.empty() ? "" : ": " + why);
    co_return ec;
  }
  co_return error_code{};
}

net::awaitable<error_code> connect_and_login(server_connection& server, const server_login& login,
                                             server_error& error) {
  namespace asio = net::asio;
  if (!login.host.empty() && login.host.front() == '/')
    co_return protocol_failure(error, "Unix-domain socket upstreams are not supported; use host=127.0.0.1");

  net::tcp::resolver resolver(server.stream.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(login.host, std::to_string(login.port), net::use_nothrow);
  if (rec) co_return network_failure(error, login, "resolve", rec);
  auto [cec, endpoint] = co_await asio::async_connect(server.stream.socket(), endpoints, net::use_nothrow);
  if (cec) co_return network_failure(error, login, "connect to", cec);
  server.peer = endpoint;
  net::set_socket_options(server.stream.socket());
  if (auto ec = co_await negotiate_upstream_tls(server.stream, login, error)) co_return ec;
  // tls-server-end-point data of the server's certificate: SCRAM-SHA-256-PLUS upstream, as libpq
  // does with channel_binding=prefer (the default).
  std::vector<std::uint8_t> cb_data;
  if (server.stream.is_tls()) {
    server.tls = server.stream.tls_summary();
    if (login.channel_binding != "disable") cb_data = net::peer_certificate_hash(server.stream.ssl());
  }

  std::string out;
  std::vector<std::pair<std::string_view, std::string_view>> startup{{"user", login.user},
                                                                     {"database", login.database}};
  bool client_options = false;
  for (const auto& [name, value] : login.extra_startup) {
    if (name == "user" || name == "database") continue;
    client_options = client_options || name == "options";
    startup.emplace_back(name, value);
  }
  // Neon routes by SNI, or by `options=endpoint=<id>` where SNI cannot carry it.
  if (!login.options.empty() && !client_options) startup.emplace_back("options", login.options);
  protocol::encode_startup_message(out, startup);
  if (auto ec = co_await net::write_all(server.stream, out)) co_return network_failure(error, login, "write to", ec);

  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, 1u << 20);
  std::string buffer;
  std::unique_ptr<auth::scram_client> scram;
  // Looked up once per login: the same keys throughout the exchange.
  std::optional<auth::scram_client_keys> keys =
      login.password.empty() && login.scram_keys ? login.scram_keys() : std::nullopt;
  // A ClientKey is as good as the password: wipe this copy however the login ends.
  struct key_wiper {
    std::optional<auth::scram_client_keys>& keys;
    ~key_wiper() {
      if (keys) OPENSSL_cleanse(keys->client_key.data(), keys->client_key.size());
    }
  } wiper{keys};
  for (;;) {
    protocol::frame msg;
    if (auto ec = co_await net::read_message(server.stream, reader, buffer, msg)) {
      if (ec.category() == protocol::error_category())
        co_return protocol_failure(error, fmt::format("invalid message from server: {}", ec.message()));
      co_return network_failure(error, login, "read from", ec);
    }
    switch (msg.tag) {
      case 'R': {
        protocol::authentication request;
        if (protocol::decode_authentication(msg.body, request))
          co_return protocol_failure(error, "malformed authentication request from server");
        out.clear();
        if (auto ec = answer_authentication(request, login, keys, cb_data, scram, out, error)) co_return ec;
        if (!out.empty())
          if (auto ec = co_await net::write_all(server.stream, out)) co_return network_failure(error, login, "write to", ec);
        break;
      }
      case 'E': {
        protocol::error_fields fields;
        protocol::decode_error_response(msg.body, fields);
        error.sqlstate = fields.code.empty() ? "08006" : std::string(fields.code);
        error.message = std::string(fields.message);
        error.detail = std::string(fields.detail);
        co_return make_error_code(boost::system::errc::permission_denied);
      }
      case 'S': {
        protocol::parameter_status status;
        if (protocol::decode_parameter_status(msg.body, status) == std::error_code{})
          server.params.set(status.name, status.value);
        break;
      }
      case 'K':
        protocol::decode_backend_key_data(msg.body, server.key);
        break;
      case 'Z':
        server.created = server.last_used = net::clock::now();
        co_return error_code{};
      default:
        break;  // NoticeResponse, NegotiateProtocolVersion: nothing to act on
    }
  }
}

}  // namespace pgfunnel::pool
