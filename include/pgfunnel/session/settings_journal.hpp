// When a client's SETs take effect: at COMMIT (or a request's implicit commit), not at all on ROLLBACK.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/protocol/tags.hpp"
#include "pgfunnel/session/session_settings.hpp"

namespace pgfunnel::session {

// Fed the classified simple Queries a client sends and the server's replies to
// them, it holds each statement's setting changes where PostgreSQL holds them:
// in the open transaction, per savepoint, until COMMIT makes them the session's
// (ROLLBACK, ROLLBACK TO and a failed transaction drop them; RELEASE keeps them
// in the enclosing level). A SET outside a transaction block commits with its
// request's ReadyForQuery.
class settings_journal {
 public:
  // Whether the next Query needs its transaction control read (see
  // classify_session_sql): something is pending or on its way.
  bool wants_transaction_control() const noexcept {
    if (!levels_.empty()) return true;
    for (const auto &q : queries_)
      if (!q.sql.changes.empty()) return true;
    return false;
  }
  // A simple Query went to the server. `owed_before`: ReadyForQuery messages
  // the server owes for requests sent before it.
  void on_query(session_sql sql, std::uint32_t owed_before);
  // Server replies: CommandComplete (its tag), EmptyQueryResponse (tag ""),
  // ErrorResponse, ReadyForQuery. False: the statement was not a simple
  // Query's (an Execute of the extended protocol).
  bool on_statement_done(std::string_view tag);
  void on_error() noexcept { failed_ = true; }
  void on_ready_for_query(protocol::transaction_status status);

  // What became the session's since the last call, in order (drained by the caller).
  std::vector<setting_change> &committed() noexcept { return committed_; }
  // A change pgfunnel cannot replay ran, or replies did not match the
  // statements: the server's state is not known (it must not be reused).
  bool uncertain() const noexcept { return uncertain_; }
  bool pending() const noexcept { return !levels_.empty(); }
  void clear() noexcept;

 private:
  struct level {
    std::string savepoint;  // "" for the transaction itself
    std::vector<setting_change> changes;
  };
  struct query {
    session_sql sql;
    std::uint32_t owed_before = 0;  // ReadyForQuery messages still to come before its own
    std::uint32_t done = 0;         // statements completed so far
    bool failed = false;
  };
  void apply(const setting_change &c);
  void commit_all();
  void drop_all() noexcept { levels_.clear(); }

  std::vector<level> levels_;
  std::vector<query> queries_;  // oldest first; usually none or one
  std::vector<setting_change> committed_;
  bool failed_ = false;             // an error in the current transaction
  bool extended_rollback_ = false;  // a ROLLBACK tag from a statement not read here (extended protocol)
  bool uncertain_ = false;
};

}  // namespace pgfunnel::session
