// The upstream libpq URL: parse (percent-decoding, IPv6, query params), print back, redact.
#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {

namespace {

constexpr std::string_view url_example = "postgres://user:password@host:5432/dbname?sslmode=require";

// libpq's connection keywords. An unknown one is an error rather than ignored, because a misspelt
// "sslmod=verify-full" would otherwise silently leave the connection unverified.
const std::vector<std::string>& known_params() {
  static const std::vector<std::string> names{
      "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth",
      "channel_binding", "connect_timeout", "client_encoding", "options", "application_name",
      "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode", "sslnegotiation",
      "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslpassword", "sslrootcert", "sslcrl",
      "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
      "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs", "load_balance_hosts"};
  return names;
}

// Parameters with a fixed set of values, checked here so the mistake points at the config, not at
// a connection failure later.
const std::vector<std::string>* param_choices(std::string_view name) {
  static const std::vector<std::string> sslmode{"disable", "allow", "prefer", "require", "verify-ca",
                                                "verify-full"};
  static const std::vector<std::string> channel_binding{"disable", "prefer", "require"};
  if (name == "sslmode") return &sslmode;
  if (name == "channel_binding") return &channel_binding;
  return nullptr;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, std::string_view what, std::string& error) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      error = fmt::format("bad percent escape '{}' in the {} (expected %XX with two hex digits)",
                          s.substr(i, 3), what);
      return std::nullopt;
    }
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') {
      error = fmt::format("the {} contains %00, which libpq cannot pass on", what);
      return std::nullopt;
    }
    out += c;
    i += 2;
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') out += c;
    else out += fmt::format("%{:02X}", u);
  }
  return out;
}

std::optional<std::uint16_t> parse_port(std::string_view s, std::string& error) {
  std::string count_error;
  const auto n = parse_count(s, 1, 65535, count_error);
  if (!n || s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    error = fmt::format("bad port '{}' (must be a number from 1 to 65535)", s);
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*n);
}

bool is_multi_host(std::string_view host) { return host.find(',') != std::string_view::npos; }

constexpr std::string_view multi_host_error = "multiple hosts are not supported; give exactly one upstream host";

// host[:port] or [v6]:port from the authority part, both optional.
bool parse_host_port(std::string_view hp, upstream_url& u, std::string& error) {
  std::string_view host_part = hp;
  std::string_view port_part;
  bool has_port = false;
  if (!hp.empty() && hp.front() == '[') {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed '[' in the host (IPv6 addresses are written [::1])";
      return false;
    }
    host_part = hp.substr(1, close - 1);
    std::string_view rest = hp.substr(close + 1);
    if (is_multi_host(rest)) {
      error = std::string(multi_host_error);
      return false;
    }
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = fmt::format("unexpected '{}' after the IPv6 address", rest);
        return false;
      }
      port_part = rest.substr(1);
      has_port = true;
    }
    if (host_part.empty()) {
      error = "empty IPv6 address in brackets";
      return false;
    }
  } else {
    if (is_multi_host(hp)) {
      error = std::string(multi_host_error);
      return false;
    }
    const auto colon = hp.find(':');
    if (colon != std::string_view::npos) {
      if (hp.find(':', colon + 1) != std::string_view::npos) {
        error = "an IPv6 address in a URL must be in brackets, e.g. postgres://[::1]:5432/db";
        return false;
      }
      host_part = hp.substr(0, colon);
      port_part = hp.substr(colon + 1);
      has_port = true;
    }
  }
  if (!host_part.empty()) {
    auto host = percent_decode(host_part, "host", error);
    if (!host) return false;
    u.host = std::move(*host);
  }
  if (has_port) {
    auto port = parse_port(port_part, error);
    if (!port) return false;
    u.port = *port;
  }
  return true;
}

bool parse_query(std::string_view query, upstream_url& u, std::string& error) {
  std::size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view item = query.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      error = fmt::format("query parameter '{}' has no value (expected name=value)", item);
      return false;
    }
    auto name = percent_decode(item.substr(0, eq), "parameter name", error);
    if (!name) return false;
    auto value = percent_decode(item.substr(eq + 1), fmt::format("value of '{}'", *name), error);
    if (!value) return false;

    const auto& known = known_params();
    if (std::find(known.begin(), known.end(), *name) == known.end()) {
      error = fmt::format("unknown connection parameter '{}'", *name);
      if (auto m = did_you_mean(*name, known)) error += fmt::format(", did you mean '{}'?", *m);
      return false;
    }
    if (const auto* choices = param_choices(*name);
        choices && std::find(choices->begin(), choices->end(), *value) == choices->end()) {
      error = fmt::format("bad {} '{}' (allowed: {})", *name, *value, fmt::join(*choices, ", "));
      return false;
    }
    // These five duplicate URL parts; libpq lets the parameter win, and keeping one copy (the field)
    // means nothing reads a stale value and the password never lands in params.
    if (*name == "host") {
      if (is_multi_host(*value)) {
        error = std::string(multi_host_error);
        return false;
      }
      u.host = std::move(*value);
    } else if (*name == "port") {
      auto port = parse_port(*value, error);
      if (!port) return false;
      u.port = *port;
    } else if (*name == "user") {
      u.user = std::move(*value);
    } else if (*name == "password") {
      u.password = std::move(*value);
    } else if (*name == "dbname") {
      u.dbname = std::move(*value);
    } else {
      u.params[*name] = std::move(*value);
    }
  }
  return true;
}

std::string build_url(const upstream_url& u, bool redact) {
  std::string out = "postgres://";
  if (!u.user.empty() || !u.password.empty()) {
    out += percent_encode(u.user);
    if (!u.password.empty()) out += ":" + (redact ? std::string("***") : percent_encode(u.password));
    out += "@";
  }
  auto params = u.params;
  // A socket directory cannot go in the authority; libpq takes it as ?host=.
  const bool socket_dir = !u.host.empty() && u.host.front() == '/';
  if (socket_dir) params["host"] = u.host;
  else if (u.host.find(':') != std::string::npos) out += "[" + u.host + "]";
  else out += percent_encode(u.host);
  out += fmt::format(":{}", u.port);
  if (!u.dbname.empty()) out += "/" + percent_encode(u.dbname);
  char sep = '?';
  for (const auto& [k, v] : params) {
    const bool secret = k == "sslpassword";
    out += sep + percent_encode(k) + "=" + (redact && secret ? std::string("***") : percent_encode(v));
    sep = '&';
  }
  return out;
}

}  // namespace

std::optional<upstream_url> parse_upstream_url(std::string_view text, std::string& error) {
  const auto scheme_end = text.find("://");
  if (text.empty()) {
    error = fmt::format("is empty (expected a URL like {})", url_example);
    return std::nullopt;
  }
  if (scheme_end == std::string_view::npos) {
    error = fmt::format("'{}' is not a URL (expected e.g. {})", text, url_example);
    return std::nullopt;
  }
  const std::string_view scheme = text.substr(0, scheme_end);
  if (scheme != "postgres" && scheme != "postgresql") {
    error = fmt::format("unsupported scheme '{}://' (expected postgres:// or postgresql://)", scheme);
    return std::nullopt;
  }
  upstream_url u;
  std::string_view rest = text.substr(scheme_end + 3);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    error = "a URL fragment ('#...') is not allowed; percent-encode '#' as %23";
    return std::nullopt;
  }

  const auto authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

  // The last '@' ends the credentials, so an unescaped '@' in a password still works.
  std::string_view host_port = authority;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    host_port = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon), "user name", error);
    if (!user) return std::nullopt;
    u.user = std::move(*user);
    if (colon != std::string_view::npos) {
      auto password = percent_decode(userinfo.substr(colon + 1), "password", error);
      if (!password) return std::nullopt;
      u.password = std::move(*password);
    }
  }
  if (!parse_host_port(host_port, u, error)) return std::nullopt;

  if (!rest.empty() && rest.front() == '/') {
    const auto q = rest.find('?');
    auto db = percent_decode(rest.substr(1, q == std::string_view::npos ? q : q - 1), "database name", error);
    if (!db) return std::nullopt;
    u.dbname = std::move(*db);
    rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
  }
  if (!rest.empty() && rest.front() == '?' && !parse_query(rest.substr(1), u, error)) return std::nullopt;
  if (u.host.empty()) {
    error = "empty host";
    return std::nullopt;
  }
  return u;
}

std::string upstream_url::sslmode() const {
  const auto it = params.find("sslmode");
  return it == params.end() ? "prefer" : it->second;
}

std::string upstream_url::redacted() const { return build_url(*this, true); }
std::string upstream_url::to_string() const { return build_url(*this, false); }

}  // namespace pgfunnel::config
