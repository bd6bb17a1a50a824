// Plaintext or TLS connections: OpenSSL driven on the non-blocking socket, readiness from Asio.
#include "pgfunnel/net/stream.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pgfunnel/net/socket_bio.hpp"
#include "pgfunnel/net/tls.hpp"

namespace pgfunnel::net {

stream::stream(stream&& other) noexcept
    : socket_(std::move(other.socket_)), ssl_(std::exchange(other.ssl_, nullptr)),
      read_wants_write_(other.read_wants_write_) {}

stream& stream::operator=(stream&& other) noexcept {
  if (this != &other) {
    free_ssl();
    socket_ = std::move(other.socket_);
    ssl_ = std::exchange(other.ssl_, nullptr);
    read_wants_write_ = other.read_wants_write_;
  }
  return *this;
}

stream::~stream() { free_ssl(); }

void stream::free_ssl() noexcept {
  if (ssl_) SSL_free(ssl_);
  ssl_ = nullptr;
}

// Maps an SSL_* result to an error; `want` says which readiness to wait for (0 none, 1 read, 2 write).
error_code stream::ssl_error(int result, int& want) noexcept {
  want = 0;
  const int code = SSL_get_error(ssl_, result);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      want = 1;
      return asio::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      want = 2;
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;  // close_notify: an orderly end
    case SSL_ERROR_SYSCALL: {
      const unsigned long e = ERR_get_error();
      if (e != 0) return tls_error(e);
      if (errno != 0 && errno != EAGAIN) return error_code(errno, asio::error::get_system_category());
      return asio::error::eof;  // the peer closed without close_notify
    }
    default: {
      const unsigned long e = ERR_get_error();
      ERR_clear_error();
      return e != 0 ? tls_error(e) : error_code(asio::error::eof);
    }
  }
}

awaitable<error_code> stream::tls_accept(ssl_ctx_st* context) {
  free_ssl();
  ssl_ = SSL_new(context);
  if (!ssl_) co_return tls_error(ERR_get_error());
  SSL_set_accept_state(ssl_);
  co_return co_await handshake(true);
}

awaitable<error_code> stream::tls_connect(ssl_ctx_st* context, const std::string& sni_host,
                                          const std::string& verify_host) {
  free_ssl();
  ssl_ = SSL_new(context);
  if (!ssl_) co_return tls_error(ERR_get_error());
  SSL_set_connect_state(ssl_);
  if (!sni_host.empty()) SSL_set_tlsext_host_name(ssl_, sni_host.c_str());
  if (!verify_host.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    // An IP literal is checked against the certificate's IP addresses, a name against its DNS names.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, verify_host.c_str()) != 1) {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl_, verify_host.c_str());
    }
  }
  co_return co_await handshake(false);
}

awaitable<error_code> stream::handshake(bool accept) {
  error_code ignored;
  socket_.non_blocking(true, ignored);
  // Not SSL_set_fd: OpenSSL's socket BIO writes with write(2), and a peer that went away would
  // raise SIGPIPE. Ours sends with MSG_NOSIGNAL, so that is EPIPE on this connection alone.
  BIO* bio = make_socket_bio(static_cast<int>(socket_.native_handle()));
  if (bio == nullptr) co_return tls_error(ERR_get_error());
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by ssl_ from here
  // Writes may be retried with a different (moved) buffer and may complete partially: the write
  // loop below keeps track of what was sent.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read(2) per burst instead of two per record (header, then body). Bytes read ahead stay
  // inside OpenSSL, which is why readiness asks has_buffered() before waiting on the socket.
  SSL_set_read_ahead(ssl_, 1);
  for (;;) {
    ERR_clear_error();
    const int r = accept ? SSL_accept(ssl_) : SSL_connect(ssl_);
    if (r == 1) co_return error_code{};
    int want = 0;
    const error_code ec = ssl_error(r, want);
    if (want == 0) co_return ec;
    auto [wec] = co_await socket_.async_wait(want == 1 ? tcp::socket::wait_read : tcp::socket::wait_write, use_nothrow);
    if (wec) co_return wec;
  }
}

std::string stream::verify_failure() const {
  if (!ssl_) return {};
  const long result = SSL_get_verify_result(ssl_);
  return result == X509_V_OK ? std::string() : std::string(X509_verify_cert_error_string(result));
}

std::string stream::tls_version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

std::string stream::tls_cipher() const { return ssl_ ? SSL_get_cipher_name(ssl_) : ""; }

std::string stream::tls_summary() const { return ssl_ ? tls_version() + "/" + tls_cipher() : std::string(); }

bool stream::has_buffered() const noexcept { return ssl_ && SSL_has_pending(ssl_) == 1; }

awaitable<error_code> stream::wait_readable() {
  if (has_buffered()) co_return error_code{};
  auto [ec] =
      co_await socket_.async_wait(read_wants_write_ ? tcp::socket::wait_write : tcp::socket::wait_read, use_nothrow);
  co_return ec;
}

std::size_t stream::read_now(asio::mutable_buffer buffer, error_code& ec) {
  if (!ssl_) {
    const std::size_t n = socket_.read_some(buffer, ec);
    return n;
  }
  ERR_clear_error();
  std::size_t n = 0;
  const int r = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n);
  read_wants_write_ = false;
  if (r == 1) {
    ec = {};
    return n;
  }
  int want = 0;
  ec = ssl_error(r, want);
  read_wants_write_ = want == 2;
  return 0;
}

bool stream::idle_peer_gone() noexcept {
  if (!socket_.is_open()) return true;
  char byte;
  if (!ssl_) {
    const ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  // TLS records may arrive on a quiet connection without any application data (TLS 1.3 session
  // tickets), so neither the socket nor SSL_has_pending can say: only a read tells those from a
  // message or the end.
  error_code ec;
  const std::size_t n = read_now(asio::buffer(&byte, 1), ec);
  return n > 0 || ec != asio::error::would_block;
}

awaitable<std::tuple<error_code, std::size_t>> stream::read_some(asio::mutable_buffer buffer) {
  if (!ssl_) co_return co_await socket_.async_read_some(buffer, use_nothrow);
  for (;;) {
    error_code ec;
    const std::size_t n = read_now(buffer, ec);
    if (ec != asio::error::would_block) co_return std::tuple{ec, n};
    if (auto wec = co_await wait_readable()) co_return std::tuple{wec, std::size_t{0}};
  }
}

awaitable<error_code> stream::read_exact(asio::mutable_buffer buffer) {
  if (!ssl_) {
    auto [ec, n] = co_await asio::async_read(socket_, buffer, use_nothrow);
    co_return ec;
  }
  auto* at = static_cast<std::uint8_t*>(buffer.data());
  std::size_t left = buffer.size();
  while (left > 0) {
    auto [ec, n] = co_await read_some(asio::buffer(at, left));
    if (ec) co_return ec;
    if (n == 0) co_return asio::error::eof;
    at += n;
    left -= n;
  }
  co_return error_code{};
}

awaitable<error_code> stream::write_all(std::string_view bytes) {
  if (!ssl_) {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), use_nothrow);
    co_return ec;
  }
  while (!bytes.empty()) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n);
    if (r == 1) {
      bytes.remove_prefix(n);
      continue;
    }
    int want = 0;
    const error_code ec = ssl_error(r, want);
    if (want == 0) co_return ec;
    auto [wec] = co_await socket_.async_wait(want == 1 ? tcp::socket::wait_read : tcp::socket::wait_write, use_nothrow);
    if (wec) co_return wec;
  }
  co_return error_code{};
}

void stream::try_write(std::string_view bytes) noexcept {
  if (!ssl_) {
    error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ignored);
    return;
  }
  ERR_clear_error();
  std::size_t n = 0;
  SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n);
  ERR_clear_error();
}

void stream::send_close_notify() noexcept {
  if (!ssl_ || !socket_.is_open()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

void stream::cancel() noexcept {
  error_code ignored;
  socket_.cancel(ignored);
}

void stream::shutdown() noexcept {
  send_close_notify();  // one attempt on the non-blocking socket; never waits for the peer's
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
}

void stream::close() noexcept {
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace pgfunnel::net
