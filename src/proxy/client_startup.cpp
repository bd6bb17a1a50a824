// Startup-phase handling shared by both listeners: SSL/GSS refusal, the StartupMessage, CancelRequest.
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/proxy/client_login.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

net::awaitable<error_code> read_client_startup(net::tcp::socket& socket, client_startup& out) {
  protocol::frame_reader reader(protocol::phase::startup, protocol::direction::frontend,
                                protocol::max_startup_packet_length);
  for (;;) {
    protocol::frame frame;
    if (auto ec = co_await net::read_message(socket, reader, out.packet, frame)) co_return ec;
    if (auto ec = protocol::decode_startup(frame.body, out.parsed)) co_return error_code(ec);
    switch (out.parsed.kind) {
      case protocol::startup_kind::ssl_request:
      case protocol::startup_kind::gssenc_request:
        // Not yet: the client then continues in plaintext or gives up, as with a server without TLS.
        if (auto ec = co_await net::write_all(socket, "N")) co_return ec;
        continue;
      case protocol::startup_kind::cancel_request:
      case protocol::startup_kind::startup_message:
        co_return error_code{};
    }
  }
}

net::awaitable<void> send_error(net::tcp::socket& socket, const protocol::error_message& error) {
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
