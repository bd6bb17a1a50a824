// SQL-level session state of a pooled client: the SET/RESET it issued.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgfunnel::session {

// One statement's effect on what follows the client, or on when that takes
// effect (transaction control, which settings_journal reads).
struct setting_change {
  enum kind_t : std::uint8_t {
    set,          // `name` now has `text` (the statement to replay)
    reset,        // `name` back to the session's default
    reset_all,    // RESET ALL: every setting but role and session_authorization
    discard_all,  // DISCARD ALL: every setting, role and session_authorization too
    commit,       // COMMIT, END, PREPARE TRANSACTION (the session keeps the SETs), … AND CHAIN
    rollback,     // ROLLBACK, ABORT, … AND CHAIN
    savepoint,    // SAVEPOINT `name`
    release,      // RELEASE [SAVEPOINT] `name`
    rollback_to,  // ROLLBACK TO [SAVEPOINT] `name`
    unknown,      // changes session state in a way pgfunnel cannot replay
  } kind = unknown;
  // set/reset of a parameter ParameterStatus already follows (see
  // is_tracked_parameter): only a reset matters, for the client's startup value.
  bool tracked = false;
  std::uint32_t statement = 0;  // its statement's index in the Query text
  std::string name;  // the setting, folded as PostgreSQL folds identifiers; or the savepoint
  std::string text;  // set: the statement that replays it on another server
};

// What one simple-Query (or Parse) text does to session state, as far as
// transaction pooling cares. Every statement of the text is read:
// `SET [SESSION] name {= | TO} value | DEFAULT`, `SET ROLE`, `SET SESSION
// AUTHORIZATION`, `SET SESSION CHARACTERISTICS AS TRANSACTION`, `SET SCHEMA`,
// `SET NAMES`, `SET TIME ZONE`, `SET XML OPTION`, `RESET …`, `DISCARD ALL`,
// `set_config(name, value, false)` with literal arguments, and transaction control.
struct session_sql {
  std::vector<setting_change> changes;  // in statement order; empty for most queries
  // Statements in the text (empty ones do not count, as the server sends nothing
  // for them); 0 when the text could not be split with certainty.
  std::uint32_t statements = 0;
  // Session objects (advisory locks, temp tables, ...): see session_objects.hpp.
};

// `tracked` says whether a name already follows the client through
// ParameterStatus. Transaction control is reported only when
// `transaction_control` is set (it matters only while SETs are pending; most
// transactions have none, and then BEGIN/COMMIT cost nothing here).
session_sql classify_session_sql(std::string_view sql, bool (*tracked)(std::string_view) noexcept,
                                 bool transaction_control = true);

// Whether a text may change a setting for the session: its first word is SET,
// RESET or DISCARD, or it names set_config. Cheap enough for every Parse; only
// then is it worth classifying.
bool may_change_settings(std::string_view sql) noexcept;

// The SETs a client made that must follow it from server to server, in the
// order first made. The same type records what a server has had replayed on it.
class session_settings {
 public:
  void apply(const setting_change &c);  // set / reset / reset_all / discard_all; tracked and other kinds are ignored
  void clear() noexcept { items_.clear(); }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const std::string *find(std::string_view name) const noexcept;  // the SET statement in force
  bool operator==(const session_settings &) const = default;

  // The SQL that brings a server whose replayed settings are `server` to these,
  // in two parts: the RESETs of what only the server has (first, so a role an
  // earlier client took is gone before anything else runs), then the client's
  // SET statements the server lacks. "" when nothing differs; statements are
  // separated by "; " so they can share one simple Query with the parameter batch.
  std::string resets_from(const session_settings &server) const;
  std::string sets_from(const session_settings &server) const;
  std::string replay_from(const session_settings &server) const;  // both
  // One statement per element, in the same order: for telling which one a server refused.
  std::vector<std::pair<std::string, std::string>> set_statements_from(const session_settings &server) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;  // name → SET statement
};

// The RESET statement for a setting name (`RESET ROLE`, `RESET SESSION
// AUTHORIZATION`, or `RESET "a"."b"`).
std::string reset_statement(std::string_view name);

}  // namespace pgfunnel::session
