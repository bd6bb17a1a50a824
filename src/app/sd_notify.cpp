// sd_notify: READY=1 / RELOADING=1 / STOPPING=1 as one unix datagram, the whole of the protocol we need.
#include "pgfunnel/app/sd_notify.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace pgfunnel::app {

bool sd_notify(std::string_view state) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr || *name == '\0') return false;
  return sd_notify_to(name, state);
}

bool sd_notify_to(std::string_view socket_name, std::string_view state, std::string* error) {
  const auto fail = [error](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Only a path or an abstract name: systemd also allows vsock:, which a pooler never meets.
  if (socket_name.empty() || (socket_name[0] != '/' && socket_name[0] != '@'))
    return fail(fmt::format("NOTIFY_SOCKET {} is neither a path nor @abstract", socket_name));
  if (socket_name.size() >= sizeof(addr.sun_path)) return fail("NOTIFY_SOCKET name too long");
  std::memcpy(addr.sun_path, socket_name.data(), socket_name.size());
  // The abstract namespace: a leading NUL instead of '@', and the length counts the name exactly.
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  const auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name.size() + (socket_name[0] == '@' ? 0 : 1));

  // CLOEXEC: no child (there is none today) may inherit a socket to systemd.
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::strerror(errno));
  const ssize_t sent =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), length);
  const int saved = errno;
  ::close(fd);
  if (sent != static_cast<ssize_t>(state.size())) return fail(std::strerror(saved));
  return true;
}

std::string reloading_state() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec =
      static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  return fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec);
}

}  // namespace pgfunnel::app
