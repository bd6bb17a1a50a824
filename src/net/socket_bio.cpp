// The MSG_NOSIGNAL socket BIO under every TLS connection (see socket_bio.hpp for why).
#include "pgfunnel/net/socket_bio.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sys/socket.h>

#include <openssl/bio.h>

namespace pgfunnel::net {
namespace {

int fd_of(BIO* bio) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio))); }

// EAGAIN is a retry (the stream waits for readiness and calls again), anything else an error that
// OpenSSL reports as SSL_ERROR_SYSCALL with errno left as the kernel set it.
bool should_retry(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

int socket_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n;
  do {
    n = ::send(fd_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<int>(n);
  if (should_retry(errno)) BIO_set_retry_write(bio);
  return -1;
}

int socket_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  ssize_t n;
  do {
    n = ::recv(fd_of(bio), data, static_cast<std::size_t>(size), 0);
  } while (n < 0 && errno == EINTR);
  // As OpenSSL's socket BIO does: EOF is remembered, so that SSL_read can tell a peer that closed
  // without close_notify (an "unexpected eof") from a read that merely failed.
  if (n == 0 && size > 0) BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
  if (n >= 0) return static_cast<int>(n);
  if (should_retry(errno)) BIO_set_retry_read(bio);
  return -1;
}

int socket_puts(BIO* bio, const char* text) { return socket_write(bio, text, static_cast<int>(std::strlen(text))); }

long socket_ctrl(BIO* bio, int command, long, void* pointer) {
  switch (command) {
    case BIO_CTRL_FLUSH:  // every write goes straight to the kernel
    case BIO_CTRL_DUP:
      return 1;
    case BIO_CTRL_EOF:
      return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    case BIO_C_GET_FD:  // SSL_get_fd
      if (pointer != nullptr) *static_cast<int*>(pointer) = fd_of(bio);
      return fd_of(bio);
    default:
      return 0;
  }
}

int socket_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  // Made once, on first use; OpenSSL keeps it for the life of the process.
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "pgfunnel socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, socket_write);
    BIO_meth_set_read(m, socket_read);
    BIO_meth_set_puts(m, socket_puts);
    BIO_meth_set_ctrl(m, socket_ctrl);
    BIO_meth_set_create(m, socket_create);
    return m;
  }();
  return method;
}

}  // namespace

bio_st* make_socket_bio(int fd) {
  const BIO_METHOD* method = socket_method();
  if (method == nullptr) return nullptr;
  BIO* bio = BIO_new(method);
  if (bio != nullptr) BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  return bio;
}

}  // namespace pgfunnel::net
