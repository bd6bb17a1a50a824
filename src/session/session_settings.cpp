// The SET/RESET recogniser and the settings a client carries.
#include "pgfunnel/session/session_settings.hpp"

#include <cctype>

#include "sql_cursor.hpp"

namespace pgfunnel::session {

namespace {

using detail::sql_cursor;

// A setting name: identifiers joined by dots (custom settings are
// `prefix.name`). Parts are folded as PostgreSQL folds them; `quoted` is the
// form to write back in a RESET.
bool setting_name(sql_cursor &c, std::string &name, std::string &quoted) {
  for (;;) {
    auto part = c.identifier();
    if (!part) return false;
    if (!name.empty()) {
      name += '.';
      quoted += '.';
    }
    name += *part;
    quoted += '"';
    for (char ch : *part) {
      if (ch == '"') quoted += '"';
      quoted += ch;
    }
    quoted += '"';
    if (c.pos < c.s.size() && c.s[c.pos] == '.') {
      ++c.pos;
      continue;
    }
    return true;
  }
}

// The value part of a SET, up to an optional final `;`. Refused (nullopt) when
// it could smuggle anything into a replayed batch: a `;` before the end, a
// comment, a dollar quote, an open quote.
std::optional<std::string_view> set_value(std::string_view rest) {
  std::size_t end = rest.size();
  while (end > 0 && std::isspace(static_cast<unsigned char>(rest[end - 1]))) --end;
  if (end > 0 && rest[end - 1] == ';') --end;
  while (end > 0 && std::isspace(static_cast<unsigned char>(rest[end - 1]))) --end;
  const std::string_view v = rest.substr(0, end);
  if (v.empty()) return std::nullopt;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\'' || c == '"') {
      // E'...' strings take backslash escapes; the others only doubled quotes.
      const bool escapes = c == '\'' && i > 0 && (v[i - 1] == 'e' || v[i - 1] == 'E');
      std::size_t j = i + 1;
      for (;; ++j) {
        if (j >= v.size()) return std::nullopt;
        if (escapes && v[j] == '\\') {
          ++j;
          continue;
        }
        if (v[j] == c) {
          if (j + 1 < v.size() && v[j + 1] == c) {
            ++j;
            continue;
          }
          break;
        }
      }
      i = j;
      continue;
    }
    if (c == ';' || c == '$' || c == '\\') return std::nullopt;
    if ((c == '-' || c == '/') && i + 1 < v.size() && (v[i + 1] == '-' || v[i + 1] == '*')) return std::nullopt;
  }
  return v;
}

bool is_default(std::string_view v) {
  sql_cursor c{v};
  return c.keyword("default") && c.at_statement_end();
}

}  // namespace

session_sql classify_session_sql(std::string_view sql, bool (*tracked)(std::string_view) noexcept) {
  session_sql out;
  sql_cursor c{sql};
  c.skip_space();
  const std::size_t start = c.pos;
  if (c.keyword("set")) {
    c.skip_space();
    const std::size_t after_set = c.pos;
    if (c.keyword("session")) {
      c.skip_space();
      // `SET SESSION AUTHORIZATION` / `SET SESSION CHARACTERISTICS` are not
      // settings we follow; "session" itself may also be a setting's name (`SET
      // session = ...` is not valid anyway).
      if (c.keyword("authorization") || c.keyword("characteristics")) return out;
    } else {
      c.pos = after_set;
      if (c.keyword("local")) return out;  // ends with the transaction: nothing to follow
    }
    std::string name, quoted;
    if (!setting_name(c, name, quoted)) return out;
    c.skip_space();
    if (c.pos < c.s.size() && c.s[c.pos] == '=') {
      ++c.pos;
    } else if (!c.keyword("to")) {
      return out;
    }
    c.skip_space();
    const auto value = set_value(sql.substr(c.pos));
    if (!value || tracked(name)) return out;
    if (is_default(*value)) {
      out.kind = session_sql::reset;
      out.name = std::move(name);
      out.statement = "RESET " + quoted;
      return out;
    }
    out.kind = session_sql::set;
    out.name = std::move(name);
    out.statement = std::string(sql.substr(start, c.pos - start));
    out.statement += *value;
    return out;
  }
  c.pos = start;
  if (c.keyword("reset")) {
    c.skip_space();
    const std::size_t before = c.pos;
    if (c.keyword("all") && c.at_statement_end()) {
      out.kind = session_sql::reset_all;
      return out;
    }
    c.pos = before;
    std::string name, quoted;
    if (!setting_name(c, name, quoted) || !c.at_statement_end() || tracked(name)) return out;
    out.kind = session_sql::reset;
    out.name = std::move(name);
    out.statement = "RESET " + quoted;
    return out;
  }
  c.pos = start;
  if (c.keyword("discard")) {
    c.skip_space();
    if (c.keyword("all") && c.at_statement_end()) out.kind = session_sql::reset_all;
  }
  return out;
}

void session_settings::apply(const session_sql &s) {
  switch (s.kind) {
    case session_sql::set:
      for (auto &[name, statement] : items_)
        if (name == s.name) {
          statement = s.statement;
          return;
        }
      items_.emplace_back(s.name, s.statement);
      return;
    case session_sql::reset:
      std::erase_if(items_, [&](const auto &item) { return item.first == s.name; });
      return;
    case session_sql::reset_all:
      items_.clear();
      return;
    case session_sql::other:
      return;
  }
}

const std::string *session_settings::find(std::string_view name) const noexcept {
  for (const auto &[n, statement] : items_)
    if (n == name) return &statement;
  return nullptr;
}

std::string session_settings::replay_from(const session_settings &server) const {
  std::string out;
  auto add = [&out](std::string_view statement) {
    if (!out.empty()) out += "; ";
    out += statement;
  };
  for (const auto &[name, statement] : server.items_) {
    if (find(name) != nullptr) continue;
    // The RESET for a name: rebuilt from the stored SET's quoting would need
    // the parser again; quoting each folded part is always right.
    std::string reset = "RESET ";
    std::size_t from = 0;
    for (;;) {
      const std::size_t dot = name.find('.', from);
      const std::string_view part =
          std::string_view(name).substr(from, dot == std::string::npos ? std::string::npos : dot - from);
      reset += '"';
      for (char ch : part) {
        if (ch == '"') reset += '"';
        reset += ch;
      }
      reset += '"';
      if (dot == std::string::npos) break;
      reset += '.';
      from = dot + 1;
    }
    add(reset);
  }
  for (const auto &[name, statement] : items_) {
    const std::string *theirs = server.find(name);
    if (theirs == nullptr || *theirs != statement) add(statement);
  }
  return out;
}

}  // namespace pgfunnel::session
