// An OpenSSL BIO for a socket that sends with MSG_NOSIGNAL: a vanished peer is EPIPE, never SIGPIPE.
#pragma once

struct bio_st;

namespace pgfunnel::net {

// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when the peer has gone; a
// process started with SIGPIPE at its default action (systemd, Docker, Kubernetes) would die of it.
// This BIO reads and writes as the socket BIO does, but sends with send(MSG_NOSIGNAL), so a closed
// peer becomes an error value on that one connection whatever the signal's disposition.
// `fd` is not owned: the stream's socket closes it. nullptr when OpenSSL cannot allocate.
bio_st* make_socket_bio(int fd);

}  // namespace pgfunnel::net
