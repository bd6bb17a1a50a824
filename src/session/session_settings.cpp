// The SET/RESET recogniser (every statement of a text) and the settings a client carries.
#include "pgfunnel/session/session_settings.hpp"

#include <cctype>
#include <optional>

#include "pgfunnel/session/parameters.hpp"

#include "sql_cursor.hpp"

namespace pgfunnel::session {

namespace {

using detail::mentions_word;
using detail::identifier_char;
using detail::next_statement;
using detail::skip_quoted;
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

// Adds the changes of one statement (`c` over its text, without its `;`).
struct statement_reader {
  session_sql &out;
  bool (*tracked)(std::string_view) noexcept;
  bool transaction_control;
  std::uint32_t index;

  void add(setting_change::kind_t kind, std::string name = {}, std::string text = {}, bool is_tracked = false) {
    setting_change ch;
    ch.kind = kind;
    ch.statement = index;
    ch.tracked = is_tracked;
    ch.name = std::move(name);
    ch.text = std::move(text);
    out.changes.push_back(std::move(ch));
  }
  void add_set(std::string name, std::string text) {
    const bool t = tracked(name);
    if (!t) add(setting_change::set, std::move(name), std::move(text));
    // A tracked SET follows through ParameterStatus: nothing to add.
  }
  void add_reset(std::string name) {
    const bool t = tracked(name);
    add(setting_change::reset, std::move(name), {}, t);
  }

  void read(std::string_view stmt) {
    sql_cursor c{stmt};
    if (c.keyword("set")) return read_set(c, stmt);
    c.pos = 0;
    if (c.keyword("reset")) return read_reset(c);
    c.pos = 0;
    if (c.keyword("discard")) {
      c.skip_space();
      if (c.keyword("all") && c.at_statement_end()) add(setting_change::discard_all);
      return;  // PLANS, SEQUENCES, TEMP: not settings
    }
    c.pos = 0;
    if (transaction_control && read_transaction_control(c)) return;
    // set_config() anywhere in any other statement (a SELECT list, mostly).
    if (mentions_word(stmt, "set_config")) read_set_config(stmt);
  }

  void read_set(sql_cursor &c, std::string_view stmt) {
    c.skip_space();
    const std::size_t after_set = c.pos;
    bool session = false;
    if (c.keyword("local")) return;  // ends with the transaction: nothing to follow
    c.pos = after_set;
    if (c.keyword("transaction") || c.keyword("constraints")) return;  // this transaction only
    c.pos = after_set;
    if (c.keyword("session")) {
      c.skip_space();
      const std::size_t after_session = c.pos;
      if (c.keyword("authorization")) {
        c.skip_space();
        const auto value = set_value(stmt.substr(c.pos));
        if (!value) return add(setting_change::unknown);
        if (is_default(*value)) return add_reset("session_authorization");
        return add(setting_change::set, "session_authorization", std::string(stmt));
      }
      c.pos = after_session;
      if (c.keyword("characteristics")) return read_characteristics(c);
      c.pos = after_session;
      session = true;
    }
    const std::size_t name_at = c.pos;
    // The special forms (gram.y's set_rest_more) whose value follows without = or TO.
    if (c.keyword("role")) {
      c.skip_space();
      if (c.pos < c.s.size() && c.s[c.pos] != '=' && !sql_cursor{c.s, c.pos}.keyword("to")) {
        const auto value = set_value(stmt.substr(c.pos));
        if (!value) return add(setting_change::unknown);
        return add(setting_change::set, "role", std::string(stmt));
      }
    }
    c.pos = name_at;
    if (c.keyword("schema")) {
      c.skip_space();
      if (c.pos < c.s.size() && c.s[c.pos] != '=' && !sql_cursor{c.s, c.pos}.keyword("to")) {
        const auto value = set_value(stmt.substr(c.pos));
        if (!value || is_default(*value)) return add(setting_change::unknown);
        return add(setting_change::set, "search_path", std::string(stmt));
      }
    }
    c.pos = name_at;
    if (c.keyword("names")) {
      c.skip_space();
      if (c.pos < c.s.size() && c.s[c.pos] != '=' && !sql_cursor{c.s, c.pos}.keyword("to")) {
        if (is_default(stmt.substr(c.pos))) return add_reset("client_encoding");
        return add_set("client_encoding", std::string(stmt));
      }
    }
    c.pos = name_at;
    if (c.keyword("time")) {
      c.skip_space();
      if (!c.keyword("zone")) return add(setting_change::unknown);
      c.skip_space();
      const std::size_t value_at = c.pos;
      if ((c.keyword("local") || c.keyword("default")) && c.at_statement_end()) return add_reset("timezone");
      c.pos = value_at;
      return add_set("timezone", std::string(stmt));
    }
    c.pos = name_at;
    if (c.keyword("xml")) {
      c.skip_space();
      if (!c.keyword("option")) return add(setting_change::unknown);
      c.skip_space();
      const auto value = set_value(stmt.substr(c.pos));
      if (!value) return add(setting_change::unknown);
      if (is_default(*value)) return add_reset("xmloption");
      return add(setting_change::set, "xmloption", std::string(stmt));
    }
    c.pos = name_at;
    (void)session;
    std::string name, quoted;
    if (!setting_name(c, name, quoted)) return add(setting_change::unknown);
    c.skip_space();
    if (c.pos < c.s.size() && c.s[c.pos] == '=') {
      ++c.pos;
    } else if (!c.keyword("to")) {
      return add(setting_change::unknown);
    }
    c.skip_space();
    const auto value = set_value(stmt.substr(c.pos));
    if (!value) {
      if (tracked(name)) return;  // ParameterStatus tells what it did
      return add(setting_change::unknown);
    }
    if (is_default(*value)) return add_reset(std::move(name));
    std::string text(stmt.substr(0, c.pos));
    text += *value;
    add_set(std::move(name), std::move(text));
  }

  // SET SESSION CHARACTERISTICS AS TRANSACTION mode [, …]: the defaults of the
  // three transaction settings.
  void read_characteristics(sql_cursor &c) {
    c.skip_space();
    if (!c.keyword("as")) return add(setting_change::unknown);
    c.skip_space();
    if (!c.keyword("transaction")) return add(setting_change::unknown);
    const std::size_t first = out.changes.size();
    for (bool any = false;;) {
      c.skip_space();
      if (any && c.pos < c.s.size() && c.s[c.pos] == ',') {
        ++c.pos;
        c.skip_space();
      }
      if (c.pos >= c.s.size()) {
        if (any) return;
        break;
      }
      any = true;
      if (c.keyword("isolation")) {
        c.skip_space();
        if (!c.keyword("level")) break;
        c.skip_space();
        std::string_view level;
        if (c.keyword("serializable")) {
          level = "serializable";
        } else if (c.keyword("repeatable")) {
          c.skip_space();
          if (!c.keyword("read")) break;
          level = "repeatable read";
        } else if (c.keyword("read")) {
          c.skip_space();
          if (c.keyword("committed"))
            level = "read committed";
          else if (c.keyword("uncommitted"))
            level = "read uncommitted";
          else
            break;
        } else {
          break;
        }
        add(setting_change::set, "default_transaction_isolation",
            "SET SESSION default_transaction_isolation TO '" + std::string(level) + "'");
      } else if (c.keyword("read")) {
        c.skip_space();
        if (c.keyword("only"))
          add(setting_change::set, "default_transaction_read_only", "SET SESSION default_transaction_read_only TO on");
        else if (c.keyword("write"))
          add(setting_change::set, "default_transaction_read_only", "SET SESSION default_transaction_read_only TO off");
        else
          break;
      } else if (c.keyword("deferrable")) {
        add(setting_change::set, "default_transaction_deferrable", "SET SESSION default_transaction_deferrable TO on");
      } else if (c.keyword("not")) {
        c.skip_space();
        if (!c.keyword("deferrable")) break;
        add(setting_change::set, "default_transaction_deferrable",
            "SET SESSION default_transaction_deferrable TO off");
      } else {
        break;
      }
    }
    out.changes.resize(first);  // not the form we know: replay none of it
    add(setting_change::unknown);
  }

  void read_reset(sql_cursor &c) {
    c.skip_space();
    const std::size_t before = c.pos;
    if (c.keyword("all") && c.at_statement_end()) return add(setting_change::reset_all);
    c.pos = before;
    if (c.keyword("session")) {
      c.skip_space();
      if (c.keyword("authorization") && c.at_statement_end()) return add_reset("session_authorization");
      return add(setting_change::unknown);
    }
    c.pos = before;
    if (c.keyword("time")) {
      c.skip_space();
      if (c.keyword("zone") && c.at_statement_end()) return add_reset("timezone");
      return add(setting_change::unknown);
    }
    c.pos = before;
    if (c.keyword("transaction")) return;  // RESET TRANSACTION ISOLATION LEVEL: this transaction only
    c.pos = before;
    if (c.keyword("xml")) {
      c.skip_space();
      if (c.keyword("option") && c.at_statement_end()) return add_reset("xmloption");
      return add(setting_change::unknown);
    }
    c.pos = before;
    std::string name, quoted;
    if (!setting_name(c, name, quoted) || !c.at_statement_end()) return add(setting_change::unknown);
    add_reset(std::move(name));
  }

  // [WORK | TRANSACTION] after COMMIT/ROLLBACK/ABORT/END, then [AND [NO] CHAIN].
  static bool transaction_tail(sql_cursor &c) {
    c.skip_space();
    if (!c.keyword("work")) c.keyword("transaction");
    c.skip_space();
    if (c.keyword("and")) {
      c.skip_space();
      if (c.keyword("no")) c.skip_space();
      if (!c.keyword("chain")) return false;
    }
    return c.at_statement_end();
  }
  bool savepoint_name(sql_cursor &c, setting_change::kind_t kind) {
    c.skip_space();
    auto name = c.identifier();
    if (!name || !c.at_statement_end()) return false;
    add(kind, std::move(*name));
    return true;
  }
  bool read_transaction_control(sql_cursor &c) {
    if (c.keyword("commit") || c.keyword("end")) {
      c.skip_space();
      if (sql_cursor{c.s, c.pos}.keyword("prepared")) return true;  // another transaction's end
      if (transaction_tail(c)) add(setting_change::commit);
      return true;
    }
    c.pos = 0;
    if (c.keyword("rollback") || c.keyword("abort")) {
      c.skip_space();
      if (sql_cursor{c.s, c.pos}.keyword("prepared")) return true;
      const std::size_t after = c.pos;
      if (!c.keyword("work")) c.keyword("transaction");
      c.skip_space();
      if (c.keyword("to")) {
        c.skip_space();
        c.keyword("savepoint");
        if (!savepoint_name(c, setting_change::rollback_to)) add(setting_change::unknown);
        return true;
      }
      c.pos = after;
      if (transaction_tail(c)) add(setting_change::rollback);
      return true;
    }
    c.pos = 0;
    if (c.keyword("prepare")) {
      c.skip_space();
      if (c.keyword("transaction")) add(setting_change::commit);  // the session keeps its SETs
      return true;
    }
    c.pos = 0;
    if (c.keyword("savepoint")) {
      if (!savepoint_name(c, setting_change::savepoint)) add(setting_change::unknown);
      return true;
    }
    c.pos = 0;
    if (c.keyword("release")) {
      c.skip_space();
      c.keyword("savepoint");
      if (!savepoint_name(c, setting_change::release)) add(setting_change::unknown);
      return true;
    }
    c.pos = 0;
    return false;
  }

  // A simple single-quoted literal ('' doubles a quote); nullopt for anything
  // else (E'…', a parameter, an expression).
  static std::optional<std::string> literal(sql_cursor &c) {
    c.skip_space();
    if (c.pos >= c.s.size() || c.s[c.pos] != '\'') return std::nullopt;
    std::string v;
    for (std::size_t j = c.pos + 1; j < c.s.size(); ++j) {
      if (c.s[j] == '\'') {
        if (j + 1 < c.s.size() && c.s[j + 1] == '\'') {
          v += '\'';
          ++j;
          continue;
        }
        c.pos = j + 1;
        return v;
      }
      v += c.s[j];
    }
    return std::nullopt;
  }
  static bool punct(sql_cursor &c, char ch) {
    c.skip_space();
    if (c.pos >= c.s.size() || c.s[c.pos] != ch) return false;
    ++c.pos;
    return true;
  }

  // Every `set_config(` call outside quotes and comments: with literal
  // arguments and is_local false it is a SET; with true it ends with the
  // transaction; anything else cannot be followed.
  void read_set_config(std::string_view stmt) {
    bool open = false;
    for (std::size_t i = 0; i < stmt.size();) {
      const std::size_t from = i;
      if (skip_quoted(stmt, i, open)) {
        // Named inside a DO block or function body: a change may happen that
        // cannot be replayed.
        if (stmt[from] == '$' && mentions_word(stmt.substr(from, i - from), "set_config"))
          return add(setting_change::unknown);
        continue;
      }
      if (!identifier_char(stmt[i]) || (i > 0 && identifier_char(stmt[i - 1]))) {
        ++i;
        continue;
      }
      sql_cursor c{stmt, i};
      if (!c.keyword("set_config")) {
        while (i < stmt.size() && identifier_char(stmt[i])) ++i;
        continue;
      }
      i = c.pos;
      if (!punct(c, '(')) continue;  // a column or a name that only looks like it
      auto name = literal(c);
      std::optional<std::string> value;
      if (name && punct(c, ',')) value = literal(c);
      bool ok = value && punct(c, ',');
      bool local = false;
      if (ok) {
        c.skip_space();
        if (c.keyword("true"))
          local = true;
        else if (!c.keyword("false"))
          ok = false;
      }
      ok = ok && punct(c, ')');
      if (!ok) return add(setting_change::unknown);
      i = c.pos;
      if (local) continue;  // ends with the transaction
      std::string folded;
      for (char ch : *name) folded += ascii_lower(ch);
      add_set(std::move(folded), "SELECT pg_catalog.set_config(" + quote_literal(*name) + ", " +
                                     quote_literal(*value) + ", false)");
    }
  }
};

}  // namespace

bool may_change_settings(std::string_view sql) noexcept {
  if (mentions_word(sql, "set_config")) return true;
  std::size_t i = 0;
  bool open = false;
  // Past whitespace and comments to the first word.
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i]))) {
      ++i;
    } else if ((sql[i] == '-' || sql[i] == '/') && i + 1 < sql.size() && (sql[i + 1] == '-' || sql[i + 1] == '*')) {
      if (!skip_quoted(sql, i, open)) break;
    } else {
      break;
    }
  }
  sql_cursor c{sql, i};
  if (c.keyword("set") || c.keyword("reset") || c.keyword("discard")) return true;
  return false;
}

session_sql classify_session_sql(std::string_view sql, bool (*tracked)(std::string_view) noexcept,
                                 bool transaction_control) {
  session_sql out;
  // CREATE FUNCTION … BEGIN ATOMIC bodies hold `;` the server does not split
  // at: the statement count is not known then.
  const bool atomic = mentions_word(sql, "atomic");
  auto read_all = [&](bool with_transaction_control) {
    out.changes.clear();
    statement_reader reader{out, tracked, with_transaction_control, 0};
    std::size_t pos = 0;
    std::string_view stmt;
    bool open = false;
    while (next_statement(sql, pos, stmt, open)) {
      reader.read(stmt);
      ++reader.index;
    }
    out.statements = atomic ? 0 : reader.index;
  };
  read_all(transaction_control);
  // A text that SETs something needs its own BEGIN/SAVEPOINT/COMMIT read as well.
  if (!transaction_control && !out.changes.empty()) read_all(true);
  return out;
}

void session_settings::apply(const setting_change &c) {
  if (c.tracked) return;
  // SET SESSION AUTHORIZATION (and its RESET) also resets the role, as in PostgreSQL.
  const bool authorization = c.name == "session_authorization";
  switch (c.kind) {
    case setting_change::set:
      if (authorization) std::erase_if(items_, [](const auto &item) { return item.first == "role"; });
      for (auto &[name, statement] : items_)
        if (name == c.name) {
          statement = c.text;
          return;
        }
      items_.emplace_back(c.name, c.text);
      return;
    case setting_change::reset:
      if (authorization) std::erase_if(items_, [](const auto &item) { return item.first == "role"; });
      std::erase_if(items_, [&](const auto &item) { return item.first == c.name; });
      return;
    case setting_change::reset_all:
      // RESET ALL leaves role and session_authorization (GUC_NO_RESET_ALL).
      std::erase_if(items_,
                    [](const auto &item) { return item.first != "role" && item.first != "session_authorization"; });
      return;
    case setting_change::discard_all:
      items_.clear();
      return;
    default:
      return;
  }
}

const std::string *session_settings::find(std::string_view name) const noexcept {
  for (const auto &[n, statement] : items_)
    if (n == name) return &statement;
  return nullptr;
}

std::string reset_statement(std::string_view name) {
  if (name == "role") return "RESET ROLE";
  if (name == "session_authorization") return "RESET SESSION AUTHORIZATION";
  // Quoting each folded part is always right (rebuilding the client's own
  // quoting would need the parser again).
  std::string reset = "RESET ";
  std::size_t from = 0;
  for (;;) {
    const std::size_t dot = name.find('.', from);
    const std::string_view part = name.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
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
  return reset;
}

std::string session_settings::resets_from(const session_settings &server) const {
  std::string out;
  auto add = [&out](std::string_view statement) {
    if (!out.empty()) out += "; ";
    out += statement;
  };
  // The session authorization first: resetting it also resets the role, and
  // every later statement then runs as the login user.
  if (server.find("session_authorization") != nullptr && find("session_authorization") == nullptr)
    add(reset_statement("session_authorization"));
  for (const auto &[name, statement] : server.items_)
    if (name != "session_authorization" && find(name) == nullptr) add(reset_statement(name));
  return out;
}

std::vector<std::pair<std::string, std::string>> session_settings::set_statements_from(
    const session_settings &server) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto &[name, statement] : items_) {
    const std::string *theirs = server.find(name);
    if (theirs == nullptr || *theirs != statement) out.emplace_back(name, statement);
  }
  return out;
}

std::string session_settings::sets_from(const session_settings &server) const {
  std::string out;
  for (const auto &[name, statement] : items_) {
    const std::string *theirs = server.find(name);
    if (theirs != nullptr && *theirs == statement) continue;
    if (!out.empty()) out += "; ";
    out += statement;
  }
  return out;
}

std::string session_settings::replay_from(const session_settings &server) const {
  std::string resets = resets_from(server);
  const std::string sets = sets_from(server);
  if (!resets.empty() && !sets.empty()) resets += "; ";
  return resets + sets;
}

}  // namespace pgfunnel::session
