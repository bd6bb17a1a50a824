// A raw TCP client for tests that speak bytes no driver would send (bad startup packets, stalls).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgfunnel::test {

// A connected socket to 127.0.0.1:port, closed on destruction; fd() is -1 when connect failed.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port);
  ~raw_client();
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  int fd() const { return fd_; }
  bool send(std::string_view bytes);
  // Everything the peer sends until it closes, or until `limit` passes with the peer still open
  // (then `closed` is false).
  std::string read_until_closed(std::chrono::milliseconds limit, bool* closed = nullptr);

 private:
  int fd_ = -1;
};

// Sends `bytes` on a new connection and returns what came back before the peer closed.
std::string send_and_read(std::uint16_t port, std::string_view bytes,
                     std::chrono::milliseconds limit = std::chrono::seconds(10));

// A listening socket on 127.0.0.1 that never accepts: the kernel completes the TCP handshake, and
// nothing ever answers (an upstream that hangs). Closed on destruction.
class silent_listener {
 public:
  silent_listener();
  ~silent_listener();
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace pgfunnel::test
