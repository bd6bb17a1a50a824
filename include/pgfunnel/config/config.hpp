// The configuration as plain immutable value structs: what every other module reads, never writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pgfunnel::config {

using duration = std::chrono::milliseconds;

// A libpq connection URL, parsed: postgres://user:pass@host:port/db?param=value
struct upstream_url {
  std::string user;
  std::string password;  // empty when the URL carries none
  std::string host = "127.0.0.1";  // a name, an IPv4/IPv6 literal (without brackets) or a socket directory
  std::uint16_t port = 5432;
  std::string dbname;  // empty means "same as user", as in libpq
  std::map<std::string, std::string> params;  // query parameters, percent-decoded (sslmode, options, ...)

  std::string sslmode() const;  // params["sslmode"] or "prefer"
  // The URL again, with the password replaced by "***" (for logs and --check-config).
  std::string redacted() const;
  // The URL again, password included; parse_upstream_url(to_string()) gives back an equal value.
  std::string to_string() const;

  bool operator==(const upstream_url&) const = default;
};

// postgres://postgres@127.0.0.1:5432/postgres, the key table's default (keys.cpp; a unit test keeps them in step).
inline upstream_url default_upstream() {
  upstream_url u;
  u.user = "postgres";
  u.dbname = "postgres";
  return u;
}

// HOST:PORT a listener binds to. An empty host means the listener is disabled.
struct listen_address {
  std::string host;
  std::uint16_t port = 0;
  bool enabled() const { return !host.empty(); }
  bool is_loopback() const;  // 127.0.0.0/8, ::1 or "localhost"
  std::string to_string() const;  // "127.0.0.1:6432", "[::1]:6432", or "off" when disabled

  bool operator==(const listen_address&) const = default;
};

// How clients prove who they are to pgfunnel (not how pgfunnel logs in upstream).
// cert: the client's TLS certificate (client_tls verify-ca/verify-full) names the user in its CN.
enum class auth_method { scram_sha_256, md5, password, trust, cert };

// One client credential. Exactly one of password / scram_verifier is set.
struct user_entry {
  std::string name;
  std::string password;        // plaintext
  std::string scram_verifier;  // "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>"

  bool operator==(const user_entry&) const = default;
};

enum class log_format { text, json };

// TLS between clients and pgfunnel. allow: TLS when the client asks; require: TLS or a FATAL
// error; verify-ca: also a client certificate from client_tls_ca_file; verify-full: and its CN is
// the user name.
enum class client_tls_mode { disable, allow, require, verify_ca, verify_full };

struct settings {
  upstream_url upstream = default_upstream();              // restart
  listen_address listen_pooled{"127.0.0.1", 6432};         // restart
  listen_address listen_direct{"127.0.0.1", 6433};         // restart
  listen_address listen_http{"0.0.0.0", 9127};             // restart; /metrics, /healthz, /readyz
  unsigned workers = 1;                                    // restart

  client_tls_mode client_tls = client_tls_mode::disable;   // reload (new connections; certificates re-read)
  std::string client_tls_cert_file;                        // reload
  std::string client_tls_key_file;                         // reload
  std::string client_tls_ca_file;                          // reload
  std::string client_tls_ciphers = "HIGH:!aNULL:!MD5:!3DES:!RC4:!SHA1";  // reload; TLS 1.2 list (1.3 suites: OpenSSL's)

  auth_method auth_type = auth_method::scram_sha_256;     // reload
  std::vector<user_entry> users;                           // reload
  std::vector<std::string> admin_users;                    // reload; admin console, every command
  std::vector<std::string> stats_users;                    // reload; admin console, SHOW only
  // Users in neither `users:` nor the URL: their secret comes from auth_query, run as auth_user.
  std::string auth_user;                                   // reload; empty = off
  std::string auth_query = "SELECT usename, passwd FROM pg_shadow WHERE usename=$1";  // reload
  // Failed password logins allowed per client address per window, then refused until it ends.
  unsigned auth_failure_limit = 10;                        // reload; 0 = off
  duration auth_failure_window = std::chrono::seconds(60); // reload

  unsigned pool_size = 20;                                 // reload
  unsigned min_pool_size = 0;                              // reload
  unsigned max_client_conn = 1000;                         // reload
  unsigned direct_max_client_conn = 100;                   // reload
  duration query_wait_timeout = std::chrono::seconds(120); // reload
  duration server_connect_timeout = std::chrono::seconds(15);  // reload
  duration server_idle_timeout = std::chrono::seconds(600);    // reload
  duration server_lifetime = std::chrono::seconds(3600);       // reload
  duration autodb_idle_timeout = std::chrono::seconds(3600);   // reload
  std::uint32_t max_message_size = 1u << 30;               // reload; bytes, header included
  unsigned max_prepared_statements = 200;                  // reload (new server connections)
  duration shutdown_timeout = std::chrono::seconds(30);    // reload
  duration client_login_timeout = std::chrono::seconds(60);      // reload
  duration client_idle_timeout = duration::zero();               // reload; 0 = never
  duration client_message_timeout = std::chrono::seconds(30);    // reload; 0 = never
  duration idle_transaction_timeout = duration::zero();          // reload; 0 = never
  duration query_timeout = duration::zero();                     // reload; 0 = never
  duration query_wait_notify = std::chrono::seconds(5);          // reload; 0 = never
  duration server_check_delay = std::chrono::seconds(30);        // reload
  std::string server_check_query = "select 1";                   // reload
  duration server_login_retry = duration::zero();                // reload; 0 = every client tries
  // A client that creates session objects (temp tables, WITH HOLD cursors, SQL PREPARE, LISTEN)
  // keeps its server until they are gone; off: they are only logged.
  bool pin_session_objects = true;                               // reload
  std::string server_reset_query = "DISCARD ALL";                // reload; PgBouncer's
  bool server_reset_query_always = false;                        // reload; off: never run (transaction mode)

  bool log_connections = true;                             // reload
  unsigned churn_warning_rate = 10;                        // reload; connections/s per application_name, 0 = off
  std::string log_level = "info";                          // reload
  log_format log_fmt = log_format::text;                   // restart

  bool operator==(const settings&) const = default;
};

}  // namespace pgfunnel::config
