// A connection that is plaintext or TLS behind one readiness-based interface (the relay's wait-then-read).
#pragma once

#include <string>
#include <string_view>
#include <tuple>

#include "pgfunnel/net/asio.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace pgfunnel::net {

// Why not asio::ssl::stream: the relay waits for readability and then reads without blocking, so a
// client that stays quiet costs no buffer and a wait can be cancelled without losing bytes. OpenSSL
// on the socket's own descriptor fits that model exactly: SSL_read on a non-blocking socket says
// "want read", and data OpenSSL has already decrypted is visible through SSL_has_pending.
//
// One coroutine may read while another writes (the relay's two halves); OpenSSL allows that on one
// SSL object as long as the calls do not overlap in time, which one strand guarantees.
class stream {
 public:
  explicit stream(tcp::socket socket) noexcept : socket_(std::move(socket)) {}
  explicit stream(const asio::any_io_executor& executor) : socket_(executor) {}
  stream(stream&& other) noexcept;
  stream& operator=(stream&& other) noexcept;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream();

  tcp::socket& socket() noexcept { return socket_; }
  asio::any_io_executor get_executor() noexcept { return socket_.get_executor(); }
  bool is_open() const noexcept { return socket_.is_open(); }
  bool is_tls() const noexcept { return ssl_ != nullptr; }
  ssl_st* ssl() const noexcept { return ssl_; }

  // TLS handshake as the server side (a client connecting to pgfunnel), after an SSLRequest was
  // answered 'S' or on a direct-TLS connection whose first byte was only peeked at.
  awaitable<error_code> tls_accept(ssl_ctx_st* context);
  // TLS handshake as the client side (pgfunnel to PostgreSQL). `sni_host` empty: no SNI.
  // `verify_host` non-empty: the certificate must name it (verify-full).
  awaitable<error_code> tls_connect(ssl_ctx_st* context, const std::string& sni_host, const std::string& verify_host);
  // After a failed handshake: what certificate verification said, e.g. "certificate has expired";
  // empty when verification was not the problem.
  std::string verify_failure() const;
  std::string tls_version() const;  // "TLSv1.3"; empty without TLS
  std::string tls_cipher() const;
  // "TLSv1.3/TLS_AES_256_GCM_SHA384" (PgBouncer's tls column); empty without TLS.
  std::string tls_summary() const;

  // Completes when a read_now would make progress (bytes on the socket, or decrypted bytes waiting).
  awaitable<error_code> wait_readable();
  // Reads what is there without waiting; asio::error::would_block when nothing is.
  std::size_t read_now(asio::mutable_buffer buffer, error_code& ec);
  // True when decrypted (or undecrypted but already received) bytes wait inside OpenSSL: a socket
  // readiness check would miss them.
  bool has_buffered() const noexcept;

  // For a connection that should be silent (a server idle in the pool): true when the peer closed
  // it, reset it, or sent something unasked (PostgreSQL's FATAL before it ends a terminated
  // backend). Never waits; may consume what the peer sent, since such a connection is not reused.
  bool idle_peer_gone() noexcept;

  awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer buffer);
  awaitable<error_code> read_exact(asio::mutable_buffer buffer);
  awaitable<error_code> write_all(std::string_view bytes);

  // Writes what the socket takes now, never waiting (a goodbye on a connection being dropped).
  void try_write(std::string_view bytes) noexcept;
  // Sends TLS close_notify (one non-blocking attempt); nothing without TLS.
  void send_close_notify() noexcept;

  void cancel() noexcept;
  // Sends close_notify when TLS (best effort, never waits), then shuts both directions.
  void shutdown() noexcept;
  void close() noexcept;

 private:
  awaitable<error_code> handshake(bool accept);
  error_code ssl_error(int result, int& want) noexcept;
  void free_ssl() noexcept;

  tcp::socket socket_;
  ssl_st* ssl_ = nullptr;
  bool read_wants_write_ = false;  // a TLS read needs the socket writable first (renegotiation-like records)
};

}  // namespace pgfunnel::net
