// A client of the pooled listener: login, then one server lease per transaction, relayed in place.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/net/relay_buffer.hpp"
#include "pgfunnel/pool/pool.hpp"
#include "pgfunnel/proxy/context.hpp"
#include "pgfunnel/session/lease_scratch.hpp"
#include "pgfunnel/session/parameters.hpp"
#include "pgfunnel/session/session_objects.hpp"
#include "pgfunnel/session/session_settings.hpp"
#include "pgfunnel/session/spliced_output.hpp"

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
  idle_timeout,      // client_idle_timeout
  message_timeout,   // client_message_timeout: part of a message, and then nothing
  idle_transaction_timeout,
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
  net::awaitable<bool> login_steps();
  std::string welcome_messages() const;

  // Before a lease: until the buffer holds the client's whole first message (or is full with its
  // start), within client_message_timeout. False: the session ended.
  net::awaitable<bool> read_first_message(std::size_t& pending);

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
  // One whole client message at [begin, end) of the scanned buffer: rewritten for the server as
  // prepared statements need, noted for session state, counted by the tracker.
  void relay_client_message(std::uint8_t tag, protocol::byte_span body, std::size_t begin, std::size_t end,
                            session::spliced_output& out);
  // One whole server message (or a streamed DataRow/CopyData): tracker, parameters, SET outcome,
  // the rewriter's forward/swallow/synthesise. False: the server broke the protocol.
  bool relay_server_message(std::uint8_t tag, protocol::byte_span body, bool complete, std::size_t begin,
                            std::size_t end, session::spliced_output& out);
  // A message too large for the relay buffer that must be seen whole: read it into `whole`.
  net::awaitable<net::error_code> read_whole_message(net::stream& socket, const std::uint8_t* have,
                                                     std::size_t have_size, std::string& whole);
  // Both halves may owe the client bytes: one write at a time, in order; a second writer queues.
  net::awaitable<net::error_code> write_client(std::string_view bytes);
  void note_client_sql(std::uint8_t tag, protocol::byte_span body);
  // A Query resetting a startup value, rewritten into `to_server` (appended) so the server goes
  // back to the client's value (session_state.cpp). `owed_before`: ReadyForQuery owed before it.
  bool rewrite_startup_resets(protocol::byte_span body, std::uint32_t owed_before, std::string& to_server);
  // Session objects (advisory locks, temp tables, WITH HOLD cursors, SQL PREPARE, LISTEN): look for
  // them on the server (pin while any is held), or remove them when the client leaves.
  void note_session_objects(std::string_view sql);
  session::session_objects pinning_kinds() const;
  net::awaitable<void> check_pin();
  net::awaitable<void> remove_session_objects();
  void set_pinned(session::session_objects held);
  net::awaitable<void> run_server_reset_query();
  void apply_committed_settings();
  void note_extended_settings(std::string_view query, bool named);
  void end_lease_statements();
  // Timeouts: a NOTICE while waiting for a server, cancelling a request that runs too long.
  void start_wait_notice();
  void start_query_watchdog();
  net::awaitable<bool> server_passes_check(pool::server_connection& server);
  net::awaitable<void> query_timed_out();
  void release_server();
  // Between transactions: nothing owed either way, no half message in either buffer.
  bool at_transaction_boundary() const;
  bool server_reusable() const;
  // "pool db/user, application_name 'x', from 10.0.0.5:51234": what every warning about this client names.
  std::string where() const;
  void log_upstream_failure(const pool::server_error& error);
  void end(close_reason reason) { if (!ended_) { ended_ = true; reason_ = reason; } }

  net::stream client_;
  std::shared_ptr<proxy_context> context_owner_;  // outlives the session, even at shutdown
  proxy_context& context_;
  const bool loopback_listener_;
  const log::conn_id id_;
  std::string user_;
  std::string database_;
  std::shared_ptr<pool::pool> pool_;
  session::parameter_set params_;  // what the client has been told (and asked for)
  session::parameter_set startup_;  // its startup values: what RESET goes back to
  session::client_statements statements_;  // its named prepared statements, across leases
  session::session_settings settings_;     // its SQL-level SETs, replayed on every lease
  session::session_objects touched_objects_ = 0;  // kinds its SQL may have created, ever
  session::session_objects warned_objects_ = 0;   // kinds logged as not kept (pin_session_objects off)
  // Session SETs it prepared through the extended protocol (see note_extended_settings).
  bool named_sets_ = false;    // a named statement: for the rest of the session
  bool unnamed_sets_ = false;  // the unnamed statement, until the next unnamed Parse
  bool sets_warned_ = false;   // logged once
  std::shared_ptr<cancel_target> cancel_;
  protocol::backend_key_data cancel_key_{};
  bool counted_ = false;
  bool logged_in_ = false;
  std::string peer_;  // the client's address:port
  net::clock::time_point connected_at_ = net::clock::now();
  std::uint64_t transactions_ = 0;  // for the close line (log_connections)
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  client_entry entry_;  // in context_.clients from login to the end: SHOW CLIENTS, KILL_CLIENT
  bool console_ = false;  // logged in to the admin console (database pgbouncer), not a pool

  // Lease state: valid between acquire and release. The bulk of it (tracker, scanners, rewriter,
  // scratch strings) lives in lease_, taken for the lease and given back after it.
  pool::server_connection* server_ = nullptr;
  session::lease_scratch::ptr lease_;
  net::relay_buffer in_;   // client → server
  net::relay_buffer out_;  // server → client
  bool releasing_ = false;      // the server may go back: stop reading the client
  bool server_broken_ = false;  // the server cannot be reused (failed, or left mid-message)
  bool server_dirty_ = false;   // it works, but its state is not known well enough to reuse it
  bool client_gone_ = false;    // EOF, error or Terminate from the client
  bool client_write_failed_ = false;
  bool pin_check_due_ = false;  // a statement may have created (or, pinned, dropped) session objects
  bool pinned_ = false;         // the server holds this client's session objects: no release
  session::session_objects held_objects_ = 0;  // which, at the last check
  // Writes to the client outlive a lease (a query_wait_notify NOTICE while waiting): kept here.
  bool client_writing_ = false;
  std::string client_backlog_;  // client bytes queued behind the write in progress
  // Made when a client first vanishes mid-lease (rare), then kept.
  std::unique_ptr<net::asio::steady_timer> cleanup_timer_;
  std::optional<net::clock::time_point> busy_since_;  // a request is out on the server (query_time)
  std::uint64_t lease_number_ = 0;                    // tells the query_timeout watchdog its lease ended
  std::optional<net::clock::time_point> cancelled_at_;  // the request query_timeout cancelled
  std::optional<net::clock::time_point> idle_in_transaction_since_;  // last ReadyForQuery in a transaction
  std::unique_ptr<net::asio::steady_timer> idle_timer_;  // client_idle_timeout / idle_transaction_timeout
  // query_wait_notify: made on the first wait, re-armed on each and cancelled when the wait ends, so
  // thousands of short waits a second leave no timers behind. entry_.state says whether it still waits.
  std::unique_ptr<net::asio::steady_timer> wait_notice_timer_;

  bool ended_ = false;
  close_reason reason_ = close_reason::client_closed;
};

}  // namespace pgfunnel::proxy
