// A client of the pooled listener: login, then one server lease per transaction, relayed in place.
#pragma once

#include <memory>
#include <string>

#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/net/relay_buffer.hpp"
#include "pgfunnel/pool/pool.hpp"
#include "pgfunnel/proxy/context.hpp"
#include "pgfunnel/session/parameters.hpp"
#include "pgfunnel/session/stream_scanner.hpp"
#include "pgfunnel/session/transaction_tracker.hpp"

namespace pgfunnel::proxy {

// Why a session ended; logged once, and the reason a client is shown where it still listens.
enum class close_reason {
  client_terminate,  // Terminate message
  client_closed,     // EOF or reset from the client
  login_failed,
  protocol_error,    // malformed or oversized message from the client
  server_lost,       // the leased server failed
  pool_timeout,      // query_wait_timeout
  upstream_error,    // no server could be logged in
  too_many_clients,  // max_client_conn
};
std::string_view to_string(close_reason reason) noexcept;

class pooled_session : public std::enable_shared_from_this<pooled_session> {
 public:
  pooled_session(net::tcp::socket client, std::shared_ptr<proxy_context> context, bool loopback_listener);
  ~pooled_session();

  net::awaitable<void> run();

 private:
  // login and welcome
  net::awaitable<bool> login();
  std::string welcome_messages() const;

  // one transaction: lease, parameter sync, relay, release
  enum class outcome { served, rejected, ended };
  net::awaitable<outcome> serve_transaction(std::size_t first_bytes);
  // No server within query_wait_timeout: answer the client's first request with ERROR 53300 and
  // ReadyForQuery, as a server answers a failed request, skipping up to its Sync; the session
  // goes on. Returns the bytes read past that request (kept at the front of in_).
  net::awaitable<std::size_t> reject_request(std::size_t have);
  net::awaitable<bool> sync_parameters();
  net::awaitable<void> client_to_server();
  net::awaitable<void> server_to_client();
  net::awaitable<void> clean_up_after_client();
  void release_server();
  bool server_reusable() const;
  void end(close_reason reason) { if (!ended_) { ended_ = true; reason_ = reason; } }

  net::tcp::socket client_;
  std::shared_ptr<proxy_context> context_owner_;  // outlives the session, even at shutdown
  proxy_context& context_;
  const bool loopback_listener_;
  const log::conn_id id_;
  std::string user_;
  std::string database_;
  std::shared_ptr<pool::pool> pool_;
  session::parameter_set params_;  // what the client has been told (and asked for)
  std::shared_ptr<cancel_target> cancel_;
  protocol::backend_key_data cancel_key_{};
  bool counted_ = false;

  // Lease state: valid between acquire and release.
  pool::server_connection* server_ = nullptr;
  session::transaction_tracker tracker_;
  session::stream_scanner client_scan_;
  session::stream_scanner server_scan_;
  net::relay_buffer in_;   // client → server
  net::relay_buffer out_;  // server → client
  std::size_t in_have_ = 0;
  std::size_t out_have_ = 0;
  bool releasing_ = false;      // the server may go back: stop reading the client
  bool server_broken_ = false;  // the server cannot be reused (failed, or left mid-message)
  bool client_gone_ = false;    // EOF, error or Terminate from the client
  bool client_write_failed_ = false;
  std::unique_ptr<net::asio::steady_timer> cleanup_timer_;

  bool ended_ = false;
  close_reason reason_ = close_reason::client_closed;
};

}  // namespace pgfunnel::proxy
