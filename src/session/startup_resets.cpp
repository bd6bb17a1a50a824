// The rewrite of RESETs to the client's startup values, and the fix-up of the server's replies to it.
#include "pgfunnel/session/startup_resets.hpp"

#include <algorithm>

#include "pgfunnel/session/session_settings.hpp"

#include "sql_cursor.hpp"

namespace pgfunnel::session {

namespace {

using detail::mentions_word;
using detail::next_statement;
using detail::sql_cursor;

// Names that reach the server only as plain identifiers (the parameter sync sends no others).
bool plain_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Whether RESET of `name` must be rewritten: the client started with a value of its own that a
// fresh server does not have. Role and session authorization are left alone (RESET ALL skips
// them, and their RESET also resets the other).
const std::string *startup_value(std::string_view name, const parameter_set &startup,
                                 const parameter_set &server_defaults) {
  if (name == "role" || name == "session_authorization" || !plain_name(name)) return nullptr;
  const std::string *value = startup.find(name);
  if (value == nullptr) return nullptr;
  if (const std::string *fresh = server_defaults.find(name); fresh != nullptr && *fresh == *value) return nullptr;
  return value;
}

std::string set_config_call(std::string_view name, std::string_view value, bool local) {
  std::string out = "pg_catalog.set_config(";
  out += quote_literal(name);
  out += ", ";
  out += quote_literal(value);
  out += local ? ", true)" : ", false)";
  return out;
}

bool no_setting_tracked(std::string_view) noexcept { return false; }

}  // namespace

bool startup_resets::on_query(std::string_view sql, const parameter_set &startup,
                              const parameter_set &server_defaults, bool in_block, std::uint32_t owed_before,
                              std::string &rewritten) {
  // RESET …, … DEFAULT, SET TIME ZONE LOCAL.
  if (startup.empty() || !(mentions_word(sql, "reset") || mentions_word(sql, "default") || mentions_word(sql, "local")))
    return false;
  // BEGIN ATOMIC bodies hold `;` the server does not split at: statements cannot be counted.
  if (mentions_word(sql, "atomic")) return false;
  query q;
  std::string out;
  std::size_t copied = 0;  // sql[0, copied) is in `out`
  std::uint32_t server_index = 0;
  std::uint32_t statements = 0;
  std::size_t pos = 0;
  std::string_view stmt;
  bool open = false;
  while (next_statement(sql, pos, stmt, open)) {
    ++statements;
    const std::uint32_t index = server_index++;
    sql_cursor c{stmt};
    bool reset = false, local = false;
    std::string reread;  // SET LOCAL read as a plain SET, to classify it
    std::string_view classified = stmt;
    if (c.keyword("reset")) {
      reset = true;
    } else {
      c.pos = 0;
      if (!c.keyword("set")) continue;
      c.skip_space();
      const std::size_t after_set = c.pos;
      if (c.keyword("local")) {
        local = true;
        reread = "SET " + std::string(stmt.substr(c.pos));
        classified = reread;
      } else {
        c.pos = after_set;
      }
    }
    const session_sql s = classify_session_sql(classified, &no_setting_tracked, false);
    if (s.changes.size() != 1) continue;
    const setting_change &change = s.changes.front();
    std::string replacement;
    if (change.kind == setting_change::reset) {
      if (local && !in_block) continue;
      const std::string *value = startup_value(change.name, startup, server_defaults);
      if (value == nullptr) continue;
      replacement = "SELECT WHERE " + set_config_call(change.name, *value, local) + " IS NULL";
      q.fixups.push_back(fixup{index, reset ? std::string_view("RESET") : std::string_view("SET")});
    } else if (change.kind == setting_change::reset_all && reset) {
      std::string calls;
      for (const auto &[name, value] : startup) {
        if (startup_value(name, startup, server_defaults) == nullptr) continue;
        if (!calls.empty()) calls += " OR ";
        calls += set_config_call(name, value, false) + " IS NULL";
      }
      if (calls.empty()) continue;
      // Every disjunct is false: all are evaluated, in order, and no row comes back.
      replacement = std::string(stmt) + "; SELECT WHERE " + calls;
      q.fixups.push_back(fixup{server_index++, {}});
    } else {
      continue;
    }
    const auto at = static_cast<std::size_t>(stmt.data() - sql.data());
    out.append(sql.substr(copied, at - copied));
    out += replacement;
    copied = at + stmt.size();
  }
  if (q.fixups.empty() || open) return false;
  out.append(sql.substr(copied));
  rewritten = std::move(out);
  for (const auto &earlier : queries_) owed_before -= std::min(owed_before, earlier.owed_before + 1);
  q.owed_before = owed_before;
  queries_.push_back(std::move(q));
  return true;
}

const startup_resets::fixup *startup_resets::current() const noexcept {
  if (queries_.empty()) return nullptr;
  const query &q = queries_.front();
  if (q.owed_before > 0 || q.failed) return nullptr;
  for (const auto &f : q.fixups)
    if (f.statement == q.done) return &f;
  return nullptr;
}

startup_resets::reply startup_resets::on_server_message(std::uint8_t tag, std::string_view command) {
  if (queries_.empty()) return reply::forward;
  switch (tag) {
    case 'T':
      // The SELECT's (empty) row description.
      return current() != nullptr ? reply::drop : reply::forward;
    case 'C': {
      const fixup *f = current();
      if (f == nullptr) {
        if (queries_.front().owed_before == 0) ++queries_.front().done;
        return reply::forward;
      }
      ++queries_.front().done;
      if (command != "SELECT 0") {
        uncertain_ = true;  // not the statement put there: forward it as it is
        return reply::forward;
      }
      if (f->tag.empty()) return reply::drop;
      renamed_ = f->tag;
      return reply::rename;
    }
    case 'E':
      if (queries_.front().owed_before == 0) queries_.front().failed = true;
      return reply::forward;
    case 'Z':
      if (queries_.front().owed_before > 0)
        --queries_.front().owed_before;
      else
        queries_.erase(queries_.begin());
      return reply::forward;
    default:
      return reply::forward;
  }
}

}  // namespace pgfunnel::session
