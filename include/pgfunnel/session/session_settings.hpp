// SQL-level session state of a pooled client: the SET/RESET it issued.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgfunnel::session {

// What one simple-Query (or Parse) text does to session state, as far as
// transaction pooling cares. The recogniser is small and exact on purpose: `SET
// [SESSION] name {= | TO} value`, `SET [SESSION] name {= | TO} DEFAULT`, `RESET
// name`, `RESET ALL`, `DISCARD ALL`, one statement with an optional `;`.
// Anything fancier is `other` and does not follow the client.
struct session_sql {
  enum kind_t : std::uint8_t { other, set, reset, reset_all } kind = other;
  std::string name;       // set/reset: the setting, folded as PostgreSQL folds identifiers
  std::string statement;  // set: the statement to replay on another server (the
                          // client's own text, trimmed)
  // Session objects (advisory locks, temp tables, ...): see session_objects.hpp.
};

// `tracked` says whether a name already follows the client through
// ParameterStatus (those SETs are left to that mechanism and classified
// `other`).
session_sql classify_session_sql(std::string_view sql, bool (*tracked)(std::string_view) noexcept);

// The SETs a client made that must follow it from server to server, in the
// order first made. The same type records what a server has had replayed on it.
class session_settings {
 public:
  void apply(const session_sql &s);  // set / reset / reset_all; other kinds are ignored
  void clear() noexcept { items_.clear(); }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const std::string *find(std::string_view name) const noexcept;  // the SET statement in force
  bool operator==(const session_settings &) const = default;

  // The SQL that brings a server whose replayed settings are `server` to these:
  // the client's SET statements it lacks, `RESET name` for the ones only it
  // has. "" when nothing differs. Statements are separated by "; " so they can
  // share one simple Query with the parameter batch.
  std::string replay_from(const session_settings &server) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;  // name → SET statement
};

}  // namespace pgfunnel::session
