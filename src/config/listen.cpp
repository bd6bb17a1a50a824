// Listener addresses: "HOST:PORT" / "[::1]:PORT" / "off", loopback test, printing.
#include <arpa/inet.h>

#include <cstring>

#include <fmt/format.h>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {

std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error) {
  if (text.empty() || text == "off") return listen_address{};  // disabled
  const std::string hint = "expected HOST:PORT, e.g. 127.0.0.1:6432 or [::1]:6432, or 'off'";
  std::string_view host, port;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = fmt::format("'{}': {}", text, hint);
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = fmt::format("'{}' has no port: {}", text, hint);
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      error = fmt::format("'{}': an IPv6 address must be in brackets, e.g. [::1]:6432", text);
      return std::nullopt;
    }
  }
  if (host.empty()) {
    // Empty host means "disabled" in listen_address, so "all interfaces" has to be said explicitly.
    error = fmt::format("'{}' has no host (use 0.0.0.0 or [::] for all interfaces)", text);
    return std::nullopt;
  }
  std::string port_error;
  const auto n = parse_count(port, 0, 65535, port_error);  // 0: the OS picks (tests)
  if (!n) {
    error = fmt::format("bad port '{}' (must be a number from 0 to 65535; 0 lets the system pick)", port);
    return std::nullopt;
  }
  return listen_address{std::string(host), static_cast<std::uint16_t>(*n)};
}

bool listen_address::is_loopback() const {
  if (host == "localhost") return true;
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(buf, loop6, 16) == 0) return true;
    return std::memcmp(buf, mapped_prefix, 12) == 0 && buf[12] == 127;  // ::ffff:127.x.y.z
  }
  return false;
}

std::string listen_address::to_string() const {
  if (!enabled()) return "off";
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace pgfunnel::config
