// Checks that span several keys (pool sizes, listener clashes, auth vs credentials), run after all sources.
#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "pgfunnel/config/sources.hpp"

namespace pgfunnel::config {

namespace {

std::string source_note(const source_map& sources, const std::string& path) {
  const auto it = sources.find(path);
  return it == sources.end() ? "default" : "from " + it->second;
}

bool wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// Two enabled listeners on one fixed port whose addresses overlap: the second bind would fail.
bool clash(const listen_address& a, const listen_address& b) {
  return a.enabled() && b.enabled() && a.port != 0 && a.port == b.port &&
         (a.host == b.host || wildcard(a.host) || wildcard(b.host));
}

}  // namespace

diagnostic at_source(const source_map& sources, const std::string& path, std::string message) {
  const auto it = sources.find(path);
  return {it == sources.end() ? std::string() : it->second, path, std::move(message)};
}

void check_cross_field(const settings& s, const source_map& sources, std::vector<diagnostic>& errors,
                       std::vector<diagnostic>& warnings) {
  // Without the file (unreadable, bad YAML) the values are not what the user wrote; checking them misleads.
  if (std::any_of(errors.begin(), errors.end(), [](const diagnostic& e) { return e.path.empty(); })) return;
  // A key that already failed holds a stand-in value; checking it against others would only add noise.
  std::vector<std::string> broken;
  for (const auto& e : errors) broken.push_back(e.path.substr(0, e.path.find('[')));
  const auto fine = [&](std::initializer_list<std::string_view> paths) {
    return std::none_of(paths.begin(), paths.end(), [&](std::string_view p) {
      return std::find(broken.begin(), broken.end(), p) != broken.end();
    });
  };
  std::vector<diagnostic> found;

  if (fine({"min_pool_size", "pool_size"}) && s.min_pool_size > s.pool_size)
    found.push_back(at_source(sources, "min_pool_size",
                              fmt::format("must not exceed pool_size ({}, {})", s.pool_size,
                                          source_note(sources, "pool_size"))));

  if (fine({"listen.pooled", "listen.direct"})) {
    const auto& p = s.listen_pooled;
    const auto& d = s.listen_direct;
    if (!p.enabled() && !d.enabled())
      found.push_back(at_source(sources, "listen.pooled",
                                "both listeners are off; enable listen.pooled or listen.direct"));
    else if (clash(p, d))
      found.push_back(at_source(sources, "listen.direct",
                                fmt::format("{} clashes with listen.pooled ({}, {})", d.to_string(), p.to_string(),
                                            source_note(sources, "listen.pooled"))));
  }
  if (fine({"listen.pooled", "listen.direct", "listen.http"})) {
    for (const auto& [other, path] : {std::pair{&s.listen_pooled, "listen.pooled"}, {&s.listen_direct, "listen.direct"}})
      if (clash(s.listen_http, *other))
        found.push_back(at_source(sources, "listen.http",
                                  fmt::format("{} clashes with {} ({}, {})", s.listen_http.to_string(), path,
                                              other->to_string(), source_note(sources, path))));
  }

  if (fine({"auth_type", "users"}) && s.auth_type == auth_method::md5) {
    for (const auto& u : s.users)
      if (u.password.empty() && !u.scram_verifier.empty())
        found.push_back(at_source(sources, "users",
                                  fmt::format("user '{}' has only a scram_verifier, which cannot check md5 logins "
                                              "(auth_type md5, {}); give a password or use scram-sha-256",
                                              u.name, source_note(sources, "auth_type"))));
  }
  if (fine({"auth_user", "auth_query"}) && !s.auth_user.empty() && s.auth_query.empty())
    found.push_back(at_source(
        sources, "auth_query",
        fmt::format("must not be empty when auth_user is set ({})", source_note(sources, "auth_user"))));
  if (fine({"client_tls", "client_tls_cert_file", "client_tls_key_file", "client_tls_ca_file"}) &&
      s.client_tls != client_tls_mode::disable) {
    const std::string mode = source_note(sources, "client_tls");
    const auto need_file = [&](const char* path, const std::string& file) {
      if (file.empty())
        found.push_back(at_source(sources, path, fmt::format("is required when client_tls is not disable ({})", mode)));
      else if (!std::ifstream(file))
        found.push_back(at_source(sources, path, fmt::format("cannot read '{}'", file)));
    };
    need_file("client_tls_cert_file", s.client_tls_cert_file);
    need_file("client_tls_key_file", s.client_tls_key_file);
    if (s.client_tls == client_tls_mode::verify_ca || s.client_tls == client_tls_mode::verify_full)
      need_file("client_tls_ca_file", s.client_tls_ca_file);
  }
  if (fine({"auth_type", "client_tls"}) && s.auth_type == auth_method::cert &&
      s.client_tls != client_tls_mode::verify_ca && s.client_tls != client_tls_mode::verify_full)
    found.push_back(at_source(sources, "auth_type",
                              fmt::format("cert needs client certificates: set client_tls to verify-ca or verify-full "
                                          "({})",
                                          source_note(sources, "client_tls"))));
  // Warnings guess at intent from the whole configuration; with errors it is not the whole one yet.
  const bool had_errors = !errors.empty() || !found.empty();
  errors.insert(errors.end(), found.begin(), found.end());
  if (had_errors) return;

  // With no users, the upstream URL's user and password are the one client credential; with no
  // password either, only loopback listeners let clients in (trust).
  if (s.auth_type != auth_method::trust && s.users.empty() && s.upstream.password.empty() &&
      s.listen_pooled.enabled() && !s.listen_pooled.is_loopback())
    warnings.push_back(at_source(sources, "users",
                                 fmt::format("no users and no password in the upstream URL: clients of {} cannot log in",
                                             s.listen_pooled.to_string())));
  if (s.auth_type == auth_method::trust)
    for (const auto* l : {&s.listen_pooled, &s.listen_direct})
      if (l->enabled() && !l->is_loopback())
        warnings.push_back(at_source(sources, "auth_type",
                                     fmt::format("trust lets anyone who can reach {} log in as any user",
                                                 l->to_string())));
}

}  // namespace pgfunnel::config
