// Session parameters that follow a client from server to server, and the SQL batch that moves them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgfunnel::session {

// A small name → value list. Names compare case-insensitively, as PostgreSQL's GUC names do; the
// first spelling seen is kept (so "DateStyle" stays as the server reports it).
class parameter_set {
 public:
  void set(std::string_view name, std::string_view value);
  bool erase(std::string_view name);
  const std::string* find(std::string_view name) const noexcept;
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }
  void clear() noexcept { items_.clear(); }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// ASCII case folding, for SQL keywords and GUC names (ASCII by definition). Not std::tolower: that
// is a locale-aware library call per character, and it runs on every relayed statement.
constexpr char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Case-insensitive equality of ASCII names: the project's one such comparison.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// The parameters PostgreSQL reports with ParameterStatus and that a client may change: these are
// re-applied on every lease when the server's value differs from the client's.
bool is_tracked_parameter(std::string_view name) noexcept;

// Startup parameters that are not settings: they pick the pool or the protocol.
bool is_connection_parameter(std::string_view name) noexcept;

// The settings in a startup packet's `options` (`-c name=value`, `--name=value`, backslash-escaped
// spaces, as PostgreSQL splits them) added to `out`. Other words (such as Neon's `endpoint=…`) are
// not settings and are skipped.
void parse_options(std::string_view options, parameter_set& out);

// A quoted SQL string literal ('it''s'), for SET values. A value with a backslash becomes an escape
// string with doubled backslashes (E'C:\\dir'), as PostgreSQL's quote_literal() does: the server may
// parse the batch with standard_conforming_strings off (PostgreSQL 15 to 18 still allow it, and it
// is a tracked parameter a client can carry), where a plain '...' would read a backslash as an escape.
std::string quote_literal(std::string_view value);

// The statements that bring a server from `server` (its current values) to what the client has:
// tracked parameters the client never set go back to the pool's defaults (`defaults`, the values a
// fresh server reported at login); other names the server still carries from an earlier client are
// RESET. Returns "" when nothing differs.
std::string build_set_batch(const parameter_set& client, const parameter_set& server, const parameter_set& defaults);

}  // namespace pgfunnel::session
