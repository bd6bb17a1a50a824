// RESET and SET … TO DEFAULT of a setting the client gave at startup: back to the client's value within the same request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::session {

// PostgreSQL's RESET (and SET … TO DEFAULT, RESET ALL) goes back to the session's startup values
// (PGDATESTYLE, PGTZ, options -c …). A pooled server's are its own login's: the client's startup
// values reached it as SETs, which RESET undoes. The parameter sync puts the client's values back
// on the next lease, but a later statement of the same request or transaction would see the
// server's. So a simple Query that resets such a setting is rewritten before it goes out:
// - `RESET x`, `SET [SESSION | LOCAL] x {TO | =} DEFAULT` and the TIME ZONE / NAMES / XML OPTION
//   forms become `SELECT WHERE pg_catalog.set_config('x', '<startup value>', <local>) IS NULL`.
//   set_config reads the value as the startup packet did (a list setting such as search_path
//   stays a list, where SET x TO '<value>' would make it one element), and the SELECT returns no
//   row: its RowDescription is dropped and its CommandComplete renamed to the client's (RESET or SET).
// - `RESET ALL` keeps its own reply and is followed by one such SELECT setting every startup value,
//   whose replies are dropped.
// Replies are matched to statements by counting CommandCompletes, as settings_journal does; a text
// whose split is not certain (BEGIN ATOMIC bodies) is never rewritten, nor (the caller's part) a
// Query behind an extended-protocol batch not yet synced, whose replies would come first with no
// ReadyForQuery between. The extended protocol (a Parse of "RESET x") is not rewritten: the next
// lease's parameter sync restores the value.
class startup_resets {
 public:
  // `sql`: a simple Query's text. `startup`: the client's startup values. `server_defaults`: what
  // a fresh server reports at login (a setting whose startup value is the same needs nothing).
  // `in_block`: the Query runs inside a transaction block for certain (only then is SET LOCAL
  // rewritten: outside one PostgreSQL warns, set_config does not). `owed_before`: ReadyForQuery
  // messages the server owes for requests sent before it. True: send `rewritten` instead.
  bool on_query(std::string_view sql, const parameter_set &startup, const parameter_set &server_defaults,
                bool in_block, std::uint32_t owed_before, std::string &rewritten);

  enum class reply : std::uint8_t { forward, drop, rename };
  // A server message's tag (and for CommandComplete, its command tag). rename: the client gets a
  // CommandComplete with renamed_tag() in its place.
  reply on_server_message(std::uint8_t tag, std::string_view command = {});
  std::string_view renamed_tag() const noexcept { return renamed_; }

  bool idle() const noexcept { return queries_.empty(); }
  // A reply did not match the rewritten statement: which statement ran is not known.
  bool uncertain() const noexcept { return uncertain_; }
  void clear() noexcept {
    queries_.clear();
    uncertain_ = false;
  }

 private:
  struct fixup {
    std::uint32_t statement = 0;  // its index among the statements the server runs
    std::string_view tag;         // "" drop its replies; else the client's CommandComplete tag
  };
  struct query {
    std::vector<fixup> fixups;
    std::uint32_t owed_before = 0;
    std::uint32_t done = 0;  // CommandCompletes seen
    bool failed = false;     // an ErrorResponse ended it
  };
  const fixup *current() const noexcept;

  std::vector<query> queries_;  // oldest first; only rewritten ones
  std::string_view renamed_;
  bool uncertain_ = false;
};

}  // namespace pgfunnel::session
