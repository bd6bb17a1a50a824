// Parameter lists and the SET batch that brings a leased server to its client's values.
#include "pgfunnel/session/parameters.hpp"

#include <array>

namespace pgfunnel::session {

void parameter_set::set(std::string_view name, std::string_view value) {
  for (auto& [key, v] : items_) {
    if (iequals(key, name)) {
      v.assign(value);
      return;
    }
  }
  items_.emplace_back(std::string(name), std::string(value));
}

bool parameter_set::erase(std::string_view name) {
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (iequals(it->first, name)) {
      items_.erase(it);
      return true;
    }
  }
  return false;
}

const std::string* parameter_set::find(std::string_view name) const noexcept {
  for (const auto& [key, v] : items_)
    if (iequals(key, name)) return &v;
  return nullptr;
}

namespace {
constexpr std::array<std::string_view, 6> tracked = {
    "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings", "application_name"};
}

bool is_tracked_parameter(std::string_view name) noexcept {
  for (auto t : tracked)
    if (iequals(t, name)) return true;
  return false;
}

bool is_connection_parameter(std::string_view name) noexcept {
  return iequals(name, "user") || iequals(name, "database") || iequals(name, "options") ||
         iequals(name, "replication") || name.starts_with("_pq_.");
}

void parse_options(std::string_view options, parameter_set& out) {
  // Split on unescaped whitespace; "\ " is a space inside a word (pg_split_opts).
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < options.size(); ++i) {
    const char c = options[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    if (c == '\\' && i + 1 < options.size()) {
      word.push_back(options[++i]);
    } else {
      word.push_back(c);
    }
    in_word = true;
  }
  if (in_word) words.push_back(std::move(word));

  auto add = [&](std::string_view setting) {
    const auto eq = setting.find('=');
    if (eq == std::string_view::npos || eq == 0) return;
    std::string name(setting.substr(0, eq));
    for (auto& ch : name)
      if (ch == '-') ch = '_';  // --search-path=x means search_path
    out.set(name, setting.substr(eq + 1));
  };
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view w = words[i];
    if (w == "-c" && i + 1 < words.size()) {
      add(words[++i]);
    } else if (w.starts_with("-c") && w.size() > 2) {
      add(w.substr(2));
    } else if (w.starts_with("--")) {
      add(w.substr(2));
    }
  }
}

std::string quote_literal(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 3);
  // With a backslash, the escape-string form: E'...' reads the same whatever standard_conforming_strings is.
  if (value.find('\\') != std::string_view::npos) out.push_back('E');
  out.push_back('\'');
  for (char c : value) {
    if (c == '\'' || c == '\\') out.push_back(c);
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

namespace {
// Parameter names come from clients; only plain identifiers (and dotted custom names) are sent on.
bool plain_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// set_config() takes the value as a configuration file would, so a list setting given as one
// string ("foo, public" for search_path) stays a list; SET name TO 'a, b' would make it one name.
void append_set(std::string& sql, std::string_view name, std::string_view value) {
  sql.append("SELECT pg_catalog.set_config(")
      .append(quote_literal(name))
      .append(", ")
      .append(quote_literal(value))
      .append(", false);");
}
}  // namespace

std::string build_set_batch(const parameter_set& client, const parameter_set& server, const parameter_set& defaults) {
  std::string sql;
  // What the client wants: its own values, else the pool's defaults for tracked parameters.
  for (const auto& [name, value] : client) {
    if (!plain_name(name)) continue;
    const std::string* current = server.find(name);
    if (current == nullptr || *current != value) append_set(sql, name, value);
  }
  for (const auto& [name, value] : server) {
    if (client.find(name) != nullptr || !plain_name(name)) continue;
    if (is_tracked_parameter(name)) {
      const std::string* fallback = defaults.find(name);
      if (fallback != nullptr && *fallback != value) append_set(sql, name, *fallback);
    } else if (defaults.find(name) == nullptr) {
      // A setting an earlier client made on this server (not one the server started with).
      sql.append("RESET ").append(name).append(";");
    }
  }
  return sql;
}

}  // namespace pgfunnel::session
