// Parsers for single setting values (URL, address, duration, size, users, ${VAR}); all report by message, never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/config/config.hpp"

namespace pgfunnel::config {

class environment;

// libpq URI: postgres[ql]://[user[:password]@][host][:port][/dbname][?param=value&...].
// Query params host/port/user/password/dbname override the URL parts and are not kept in params.
std::optional<upstream_url> parse_upstream_url(std::string_view text, std::string& error);

// "HOST:PORT", "[::1]:PORT"; "" or "off" gives a disabled address.
std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error);

// "30s", "5m"/"5min", "1h", "250ms", "2d"; a bare number is seconds. Never negative.
std::optional<duration> parse_duration(std::string_view text, std::string& error);
std::string format_duration(duration d);  // largest exact unit: "2m", "250ms", "0"

// "512", "8kB", "64MB", "1GB", "8KiB"; k = 1024 as in PostgreSQL. Bare number is bytes.
std::optional<std::uint64_t> parse_size(std::string_view text, std::string& error);
std::string format_size(std::uint64_t bytes);  // largest exact unit: "1GB", "8kB", "100"

// A non-negative decimal integer within [lo, hi]; the error says which bound was crossed.
std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t lo, std::uint64_t hi,
                                         std::string& error);

// The flag/env form of users: "alice:secret,bob:SCRAM-SHA-256$4096:...". Appends one message per bad entry.
std::vector<user_entry> parse_users_text(std::string_view text, std::vector<std::string>& errors);
std::string format_users(const std::vector<user_entry>& users, bool redact);
// Problems with one entry taken alone (empty name, both/neither secret, malformed verifier).
std::vector<std::string> check_user_entry(const user_entry& u);
bool looks_like_scram_verifier(std::string_view secret);  // starts with "SCRAM-SHA-256$"

// Expands ${VAR} and ${VAR:-default} (default used when unset or empty); "$$" is "$", any other "$" is literal.
std::optional<std::string> expand_env(std::string_view text, const environment& env, std::string& error);

// The candidate closest to `word` if close enough to be a likely typo; case, '-', '_' and '.' differences are cheap.
std::optional<std::string> did_you_mean(std::string_view word, const std::vector<std::string>& candidates);
std::size_t edit_distance(std::string_view a, std::string_view b);  // optimal string alignment (transpositions count 1)

}  // namespace pgfunnel::config
