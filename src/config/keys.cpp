// The one table of every setting; flags, env vars, YAML keys, --help, describe and the defaults all come from it.
#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {

namespace {

constexpr bool reloads = true;
constexpr bool restart = false;

template <auto Member>
using field_t = std::remove_cvref_t<decltype(std::declval<settings&>().*Member)>;

key_info row(std::string_view path, std::string_view value_name, std::string_view default_text, bool reloadable,
             std::string_view help) {
  key_info k;
  k.path = path;
  k.value_name = value_name;
  k.default_text = default_text;
  k.reloadable = reloadable;
  k.help = help;
  return k;
}

template <auto Member>
key_info count_key(std::string_view path, std::uint64_t lo, std::uint64_t hi, std::string_view def, bool reload,
                   std::string_view help) {
  key_info k = row(path, "N", def, reload, help);
  k.apply = [lo, hi](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::string e;
    if (auto n = parse_count(text, lo, hi, e)) s.*Member = static_cast<field_t<Member>>(*n);
    else errors.push_back(std::move(e));
  };
  k.show = [](const settings& s, bool) { return std::to_string(s.*Member); };
  return k;
}

template <auto Member>
key_info duration_key(std::string_view path, std::string_view def, bool reload, std::string_view help) {
  key_info k = row(path, "DURATION", def, reload, help);
  k.apply = [](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::string e;
    if (auto d = parse_duration(text, e)) s.*Member = *d;
    else errors.push_back(std::move(e));
  };
  k.show = [](const settings& s, bool) { return format_duration(s.*Member); };
  return k;
}

template <auto Member>
key_info size_key(std::string_view path, std::uint64_t lo, std::uint64_t hi, std::string_view def, bool reload,
                  std::string_view help) {
  key_info k = row(path, "SIZE", def, reload, help);
  k.apply = [lo, hi](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::string e;
    const auto n = parse_size(text, e);
    if (!n) errors.push_back(std::move(e));
    else if (*n < lo) errors.push_back(fmt::format("must be at least {}", format_size(lo)));
    else if (*n > hi) errors.push_back(fmt::format("must be at most {}", format_size(hi)));
    else s.*Member = static_cast<field_t<Member>>(*n);
  };
  k.show = [](const settings& s, bool) { return format_size(s.*Member); };
  return k;
}

template <auto Member>
key_info listen_key(std::string_view path, std::string_view def, bool reload, std::string_view help) {
  key_info k = row(path, "HOST:PORT", def, reload, help);
  k.apply = [](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::string e;
    if (auto a = parse_listen_address(text, e)) s.*Member = std::move(*a);
    else errors.push_back(std::move(e));
  };
  k.show = [](const settings& s, bool) { return (s.*Member).to_string(); };
  return k;
}

// An enumeration: the first spelling of a value is the one shown; case does not matter on input.
template <auto Member>
key_info choice_key(std::string_view path, std::string_view value_name,
                    std::vector<std::pair<std::string, field_t<Member>>> options, std::string_view def, bool reload,
                    std::string_view help) {
  key_info k = row(path, value_name, def, reload, help);
  for (const auto& o : options) k.choices.push_back(o.first);
  k.apply = [options](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::string lower;
    for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& [name, value] : options) {
      if (name == lower) {
        s.*Member = value;
        return;
      }
    }
    std::vector<std::string> names;
    for (const auto& o : options) names.push_back(o.first);
    std::string e = fmt::format("bad value '{}' (allowed: {})", text, fmt::join(names, ", "));
    if (auto m = did_you_mean(text, names)) e += fmt::format("; did you mean '{}'?", *m);
    errors.push_back(std::move(e));
  };
  k.show = [options](const settings& s, bool) {
    for (const auto& [name, value] : options)
      if (value == s.*Member) return name;
    return std::string("?");
  };
  return k;
}

key_info upstream_key(std::string_view def, std::string_view help) {
  key_info k = row("upstream", "URL", def, restart, help);
  k.apply = [](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::string e;
    if (auto u = parse_upstream_url(text, e)) s.upstream = std::move(*u);
    else errors.push_back(std::move(e));
  };
  k.show = [](const settings& s, bool redact) { return redact ? s.upstream.redacted() : s.upstream.to_string(); };
  return k;
}

key_info users_key(std::string_view help) {
  key_info k = row("users", "USERS", "", reloads, help);
  k.shape = key_shape::user_list;
  k.apply = [](settings& s, std::string_view text, std::vector<std::string>& errors) {
    s.users = parse_users_text(text, errors);
  };
  k.show = [](const settings& s, bool redact) { return format_users(s.users, redact); };
  return k;
}

// A comma-separated list of names (spaces around names ignored), shown joined by commas.
template <auto Member>
key_info name_list_key(std::string_view path, bool reload, std::string_view help) {
  key_info k = row(path, "NAMES", "", reload, help);
  k.apply = [](settings& s, std::string_view text, std::vector<std::string>& errors) {
    std::vector<std::string> names;
    while (!text.empty()) {
      const auto comma = text.find(',');
      std::string_view name = text.substr(0, comma);
      text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
      while (!name.empty() && std::isspace(static_cast<unsigned char>(name.front()))) name.remove_prefix(1);
      while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.remove_suffix(1);
      if (!name.empty()) names.emplace_back(name);
    }
    s.*Member = std::move(names);
  };
  k.show = [](const settings& s, bool) { return fmt::format("{}", fmt::join(s.*Member, ",")); };
  return k;
}

template <auto Member>
key_info text_key(std::string_view path, std::string_view value_name, std::string_view def, bool reload,
                  std::string_view help) {
  key_info k = row(path, value_name, def, reload, help);
  k.apply = [](settings& s, std::string_view text, std::vector<std::string>&) { s.*Member = std::string(text); };
  k.show = [](const settings& s, bool) { return s.*Member; };
  return k;
}

// Adding a setting: a field in settings (config.hpp), one row here, one entry in config/pgfunnel.yaml.
std::vector<key_info> build_table() {
  std::vector<key_info> t;
  t.push_back(upstream_key("postgres://postgres@127.0.0.1:5432/postgres",
                           "Upstream PostgreSQL server as a libpq URL; user/password are what pgfunnel logs in with"));
  t.push_back(listen_key<&settings::listen_pooled>("listen.pooled", "127.0.0.1:6432", restart,
                                                   "Address for pooled clients (server connections shared); 'off' disables"));
  t.push_back(listen_key<&settings::listen_direct>("listen.direct", "127.0.0.1:6433", restart,
                                                   "Address for direct clients (one server connection each); 'off' disables"));
  t.push_back(listen_key<&settings::listen_http>("listen.http", "0.0.0.0:9127", restart,
                                                 "Address for HTTP /metrics (Prometheus), /healthz and /readyz; 'off' disables"));
  t.push_back(count_key<&settings::workers>("workers", 1, 256, "1", restart, "Worker threads sharing the event loop"));
  t.push_back(choice_key<&settings::auth_type>(
      "auth_type", "METHOD",
      {{"scram-sha-256", auth_method::scram_sha_256}, {"md5", auth_method::md5},
       {"password", auth_method::password}, {"trust", auth_method::trust}, {"cert", auth_method::cert}},
      "scram-sha-256", reloads, "How clients prove who they are to pgfunnel"));
  t.push_back(choice_key<&settings::client_tls>(
      "client_tls", "MODE",
      {{"disable", client_tls_mode::disable}, {"allow", client_tls_mode::allow}, {"prefer", client_tls_mode::allow},
       {"require", client_tls_mode::require}, {"verify-ca", client_tls_mode::verify_ca},
       {"verify-full", client_tls_mode::verify_full}},
      "disable", reloads,
      "TLS for clients on every listener: disable, allow (if asked), require, verify-ca/verify-full (client certificate)"));
  t.push_back(text_key<&settings::client_tls_cert_file>("client_tls_cert_file", "FILE", "", reloads,
                                                         "PEM certificate (chain) pgfunnel presents to clients"));
  t.push_back(text_key<&settings::client_tls_key_file>("client_tls_key_file", "FILE", "", reloads,
                                                        "PEM private key of client_tls_cert_file"));
  t.push_back(text_key<&settings::client_tls_ca_file>(
      "client_tls_ca_file", "FILE", "", reloads, "CA certificates that client certificates must chain to"));
  t.push_back(text_key<&settings::client_tls_ciphers>("client_tls_ciphers", "LIST", "HIGH:!aNULL:!MD5:!3DES:!RC4:!SHA1",
                                                       reloads, "OpenSSL cipher list for TLS 1.2 (1.3 uses OpenSSL's suites)"));
  t.push_back(users_key("Client credentials; as a flag/env: 'alice:secret,bob:SCRAM-SHA-256$4096:...'"));
  t.push_back(name_list_key<&settings::admin_users>(
      "admin_users", reloads, "Users who may run every admin console command (database pgbouncer), comma-separated"));
  t.push_back(name_list_key<&settings::stats_users>(
      "stats_users", reloads, "Users who may run the admin console's SHOW commands, comma-separated"));
  t.push_back(text_key<&settings::auth_user>(
      "auth_user", "USER", "", reloads,
      "Look up users not in users: with auth_query, logged in upstream as this user; empty = off"));
  t.push_back(text_key<&settings::auth_query>(
      "auth_query", "SQL", "SELECT usename, passwd FROM pg_shadow WHERE usename=$1", reloads,
      "Query returning (name, SCRAM verifier) of the user bound as $1, run as auth_user"));
  t.push_back(count_key<&settings::auth_failure_limit>(
      "auth_failure_limit", 0, 1'000'000, "10", reloads,
      "Failed password logins allowed per client address per auth_failure_window, then refused; 0 = off"));
  t.push_back(duration_key<&settings::auth_failure_window>(
      "auth_failure_window", "60s", reloads,
      "Window of auth_failure_limit, from an address's first failed login; logins are refused until it ends"));
  t.push_back(count_key<&settings::pool_size>("pool_size", 1, 100'000, "20", reloads,
                                              "Most server connections per pool"));
  t.push_back(count_key<&settings::min_pool_size>("min_pool_size", 0, 100'000, "0", reloads,
                                                  "Server connections kept open per pool even when idle"));
  t.push_back(count_key<&settings::max_client_conn>("max_client_conn", 1, 1'000'000, "1000", reloads,
                                                    "Most client connections on the pooled listener"));
  t.push_back(count_key<&settings::direct_max_client_conn>("direct.max_client_conn", 1, 1'000'000, "100", reloads,
                                                           "Most client connections on the direct listener"));
  t.push_back(duration_key<&settings::query_wait_timeout>("query_wait_timeout", "120s", reloads,
                                                          "How long a client may wait for a server connection; 0 = forever"));
  t.push_back(duration_key<&settings::server_connect_timeout>("server_connect_timeout", "15s", reloads,
                                                              "Time allowed to connect and log in upstream; 0 = no limit"));
  t.push_back(duration_key<&settings::autodb_idle_timeout>(
      "autodb_idle_timeout", "3600s", reloads,
      "Remove a pool that has had no client and no server this long (at once if it never logged a server in)"));
  t.push_back(duration_key<&settings::server_idle_timeout>("server_idle_timeout", "600s", reloads,
                                                           "Close server connections idle longer than this; 0 = never"));
  t.push_back(duration_key<&settings::server_lifetime>("server_lifetime", "3600s", reloads,
                                                       "Close server connections older than this when next idle; 0 = never"));
  t.push_back(size_key<&settings::max_message_size>("max_message_size", 1024, 1ull << 30, "1GB", reloads,
                                                    "Largest protocol message accepted, header included"));
  t.push_back(count_key<&settings::max_prepared_statements>(
      "max_prepared_statements", 1, 100'000, "200", reloads,
      "Named prepared statements each server connection keeps (LRU) for pooled clients"));
  t.push_back(duration_key<&settings::client_login_timeout>(
      "client_login_timeout", "60s", reloads, "Time a client has to send its startup packet and log in; 0 = no limit"));
  t.push_back(duration_key<&settings::client_idle_timeout>(
      "client_idle_timeout", "0", reloads, "Close pooled clients idle (no transaction open) longer than this; 0 = never"));
  t.push_back(duration_key<&settings::client_message_timeout>(
      "client_message_timeout", "30s", reloads,
      "Close a pooled client that sent part of a message and not the rest within this; 0 = never"));
  t.push_back(duration_key<&settings::idle_transaction_timeout>(
      "idle_transaction_timeout", "0", reloads,
      "Close a pooled client that sits idle inside a transaction longer than this (it rolls back); 0 = never"));
  t.push_back(duration_key<&settings::query_timeout>(
      "query_timeout", "0", reloads, "Cancel a request that runs longer than this (the client gets the error); 0 = never"));
  t.push_back(duration_key<&settings::query_wait_notify>(
      "query_wait_notify", "5s", reloads, "Send a NOTICE to a client that has waited this long for a server; 0 = never"));
  t.push_back(duration_key<&settings::server_check_delay>(
      "server_check_delay", "30s", reloads,
      "A server idle longer than this runs server_check_query before it serves a client; 0 = check every time"));
  t.push_back(text_key<&settings::server_check_query>(
      "server_check_query", "SQL", "select 1", reloads,
      "Query that checks an idle server is still usable; empty = no query (a socket check only)"));
  t.push_back(duration_key<&settings::server_login_retry>(
      "server_login_retry", "0", reloads,
      "After a failed server login, clients get that error at once for this long instead of a new attempt each"));
  t.push_back(choice_key<&settings::pin_session_objects>(
      "pin_session_objects", "on|off", {{"on", true}, {"off", false}}, "on", reloads,
      "A client that creates temp tables, WITH HOLD cursors, SQL PREPAREs or LISTENs keeps its server until they "
      "are gone; off = only logged"));
  t.push_back(text_key<&settings::server_reset_query>(
      "server_reset_query", "SQL", "DISCARD ALL", reloads,
      "Query run on a server before it goes back to the pool, only with server_reset_query_always (as PgBouncer)"));
  t.push_back(choice_key<&settings::server_reset_query_always>(
      "server_reset_query_always", "on|off", {{"on", true}, {"off", false}}, "off", reloads,
      "Run server_reset_query after every transaction (PgBouncer runs it in session mode only unless this is set)"));
  t.push_back(duration_key<&settings::shutdown_timeout>(
      "shutdown_timeout", "30s", reloads,
      "Longest a SIGINT/SIGTERM shutdown waits for servers or clients before exiting; 0 = no limit"));
  t.push_back(choice_key<&settings::log_connections>(
      "log_connections", "on|off", {{"on", true}, {"off", false}}, "on", reloads,
      "One info line per client login and close (duration, transactions, bytes, reason)"));
  t.push_back(count_key<&settings::churn_warning_rate>(
      "churn_warning_rate", 0, 1'000'000, "10", reloads,
      "Warn when one application_name opens more connections per second than this (10 s average); 0 = off"));
  t.push_back(choice_key<&settings::log_level>(
      "log.level", "LEVEL",
      {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"},
       {"critical", "critical"}, {"off", "off"}},
      "info", reloads, "Least severe log level written"));
  t.push_back(choice_key<&settings::log_fmt>("log.format", "FORMAT",
                                             {{"text", log_format::text}, {"json", log_format::json}}, "text", restart,
                                             "Log line format: human-readable text or one JSON object per line"));
  return t;
}

}  // namespace

std::string key_info::flag() const {
  std::string f = "--";
  for (char c : path) f += (c == '.' || c == '_') ? '-' : c;
  return f;
}

std::string key_info::env_var() const {
  std::string e = "PGFUNNEL_";
  for (char c : path) e += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

std::span<const key_info> keys() {
  static const std::vector<key_info> table = build_table();
  return table;
}

const key_info* find_key(std::string_view path) {
  for (const auto& k : keys())
    if (k.path == path) return &k;
  return nullptr;
}

const key_info* find_key_by_flag(std::string_view flag_without_dashes) {
  for (const auto& k : keys())
    if (std::string_view(k.flag()).substr(2) == flag_without_dashes) return &k;
  return nullptr;
}

const key_info* find_key_by_env(std::string_view env_var) {
  for (const auto& k : keys())
    if (k.env_var() == env_var) return &k;
  return nullptr;
}

std::vector<const key_info*> changed_keys(const settings& before, const settings& after) {
  std::vector<const key_info*> changed;
  for (const auto& k : keys()) {
    // Users are compared as values: their text form cannot tell "a:x,b:y" apart from one password "x,b:y".
    const bool differs = k.shape == key_shape::user_list ? before.users != after.users
                                                          : k.show(before, false) != k.show(after, false);
    if (differs) changed.push_back(&k);
  }
  return changed;
}

}  // namespace pgfunnel::config
