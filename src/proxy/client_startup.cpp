// Startup-phase handling shared by both listeners: SSL/GSS refusal, the StartupMessage, CancelRequest.
#include <sys/socket.h>

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/net/tls.hpp"
#include "pgfunnel/proxy/client_login.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {

// PostgreSQL 17's direct TLS: the connection opens with a TLS record (handshake, 0x16) instead of a
// startup packet length, whose first byte is 0 for any valid packet. Peeked, never consumed.
net::awaitable<bool> opens_with_tls(net::stream& socket) {
  auto [wec] = co_await socket.socket().async_wait(net::tcp::socket::wait_read, net::use_nothrow);
  if (wec) co_return false;
  std::uint8_t first = 0;
  const ssize_t n = ::recv(socket.socket().native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  co_return n == 1 && first == 0x16;
}

net::awaitable<error_code> accept_tls(net::stream& socket, const net::tls_context& tls, log::conn_id id,
                                      std::string_view how) {
  if (auto ec = co_await socket.tls_accept(tls.get())) {
    const std::string why = socket.verify_failure();
    log::info(id, "TLS handshake ({}) failed: {}{}", how, ec.message(), why.empty() ? "" : ": " + why);
    co_return ec;
  }
  log::debug(id, "TLS ({}): {} {}", how, socket.tls_version(), socket.tls_cipher());
  co_return error_code{};
}

net::awaitable<error_code> refuse_nested_negotiation(net::stream& socket) {
  co_await send_error(socket, {"FATAL", "08P01", "encryption negotiation requested on an encrypted connection"});
  co_return make_error_code(net::asio::error::access_denied);
}

// What PostgreSQL answers a startup packet it cannot use (postmaster.c, ProcessStartupPacket), in
// its words, so that a client or an operator's probe learns the same here. PostgreSQL only logs a
// bad length; saying it costs nothing and tells a misdirected client (HTTP, TLS to the wrong port)
// what happened.
net::awaitable<void> refuse_startup_packet(net::stream& socket, std::error_code ec, std::int32_t version) {
  using protocol::errc;
  if (ec == errc::bad_protocol_version) {
    const std::string message = fmt::format("unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
                                            (version >> 16) & 0xffff, version & 0xffff);
    if ((version >> 16) < 3) {
      // A protocol 2.0 client reads only 2.0's ErrorResponse: 'E' and one C string.
      std::string old_style = "EFATAL:  " + message + "\n";
      old_style.push_back('\0');
      co_await net::write_all(socket, old_style);
      co_return;
    }
    co_await send_error(socket, {"FATAL", "0A000", message});
    co_return;
  }
  const bool bad_length = ec == errc::length_too_short || ec == errc::length_too_long;
  const bool bad_layout = ec == errc::missing_terminator || ec == errc::trailing_bytes;
  const std::string message = bad_length   ? "invalid length of startup packet"
                              : bad_layout ? "invalid startup packet layout: expected terminator as last byte"
                                           : "invalid startup packet";
  co_await send_error(socket, {"FATAL", "08P01", message});
}

}  // namespace

net::awaitable<error_code> read_client_startup(net::stream& socket, client_startup& out, const proxy_context& context,
                                               log::conn_id id) {
  const net::tls_context tls = context.client_tls();
  const auto mode = context.settings()->client_tls;
  protocol::frame_reader reader(protocol::phase::startup, protocol::direction::frontend,
                                protocol::max_startup_packet_length);
  if (tls && co_await opens_with_tls(socket)) {
    if (auto ec = co_await accept_tls(socket, tls, id, "direct")) co_return ec;
    // As PostgreSQL 17: direct TLS without ALPN "postgresql" could be another protocol's client.
    if (!net::negotiated_postgresql_alpn(socket.ssl())) {
      log::info(id, "direct TLS connection without ALPN \"postgresql\" refused");
      co_await send_error(socket, {"FATAL", "08P01",
                                   "received direct SSL connection request without ALPN protocol negotiation extension"});
      co_return make_error_code(net::asio::error::access_denied);
    }
  }
  for (;;) {
    protocol::frame frame;
    if (auto ec = co_await net::read_message(socket, reader, out.packet, frame)) {
      // A length the reader refused is the client's mistake, worth an answer; a lost connection is not.
      const std::error_code framing = ec;
      if (framing.category() == protocol::error_category()) {
        log::info(id, "invalid startup packet: {}", framing.message());
        co_await refuse_startup_packet(socket, framing, 0);
      }
      co_return ec;
    }
    if (const std::error_code ec = protocol::decode_startup(frame.body, out.parsed)) {
      log::info(id, "invalid startup packet: {}", ec.message());
      co_await refuse_startup_packet(socket, ec, out.parsed.protocol_version);
      co_return error_code(ec);
    }
    switch (out.parsed.kind) {
      case protocol::startup_kind::ssl_request:
        // Without client TLS, 'N': the client goes on in plaintext or gives up, as with a
        // PostgreSQL without TLS. A second SSLRequest inside TLS is a protocol violation.
        if (!tls || socket.is_tls()) {
          if (socket.is_tls()) co_return co_await refuse_nested_negotiation(socket);
          if (auto ec = co_await net::write_all(socket, "N")) co_return ec;
          continue;
        }
        if (auto ec = co_await net::write_all(socket, "S")) co_return ec;
        if (auto ec = co_await accept_tls(socket, tls, id, "SSLRequest")) co_return ec;
        continue;
      case protocol::startup_kind::gssenc_request:
        if (socket.is_tls()) co_return co_await refuse_nested_negotiation(socket);
        if (auto ec = co_await net::write_all(socket, "N")) co_return ec;
        continue;
      case protocol::startup_kind::cancel_request:
        co_return error_code{};  // libpq sends cancels in plaintext: never refused for that
      case protocol::startup_kind::startup_message:
        if (!socket.is_tls() && mode != config::client_tls_mode::disable && mode != config::client_tls_mode::allow) {
          log::info(id, "plaintext client refused: client_tls is {}", mode == config::client_tls_mode::require
                                                                             ? "require"
                                                                             : "verify-ca/verify-full");
          co_await send_error(socket, {"FATAL", "28000",
                                       "pgfunnel requires an encrypted connection (client_tls), and this one is not",
                                       "", "Connect with sslmode=require (or verify-ca/verify-full)."});
          co_return make_error_code(net::asio::error::access_denied);
        }
        co_return error_code{};
    }
  }
}

net::awaitable<void> send_error(net::stream& socket, const protocol::error_message& error) {
  std::string out;
  protocol::encode_error_response(out, error);
  co_await net::write_all(socket, out);
}

net::awaitable<void> handle_cancel_request(proxy_context& context, const protocol::startup_packet& request,
                                           log::conn_id id) {
  auto target = context.cancels.find(request.process_id, request.secret_key);
  if (!target) {
    log::debug(id, "cancel request with an unknown key dropped");
    co_return;
  }
  // Counted in flight before the key is read: the session checks the count after it detaches, so
  // either it sees this cancel (and closes the server) or this finds no server.
  ++target->in_flight;
  auto server = target->current();
  if (!server) {
    --target->in_flight;
    log::debug(id, "cancel request for a client that holds no server: nothing to cancel");
    co_return;
  }
  auto ec = co_await send_cancel(server->endpoint, server->key, std::chrono::seconds(5));
  --target->in_flight;
  if (ec) log::warn(id, "cancel request to {} failed: {}", server->endpoint.address().to_string(), ec.message());
  else log::debug(id, "cancel request forwarded to server pid {}", server->key.process_id);
}

}  // namespace pgfunnel::proxy
