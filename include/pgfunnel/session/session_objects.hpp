// Session objects that tie a client to its server (temp tables, WITH HOLD cursors, SQL PREPARE, LISTEN, advisory locks): recognition, the catalog check, the reset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgfunnel::session {

// Kinds of session object, as bits: what a server holds for one client, found by one catalog query.
enum session_object : std::uint8_t {
  object_advisory_lock = 1,  // session-level advisory locks (pg_locks)
  object_temp_table = 2,     // relations in pg_my_temp_schema()
  object_hold_cursor = 4,    // pg_cursors WHERE is_holdable
  object_sql_prepare = 8,    // pg_prepared_statements WHERE from_sql
  object_listen = 16,        // pg_listening_channels()
};
using session_objects = std::uint8_t;

constexpr session_objects all_session_objects =
    object_advisory_lock | object_temp_table | object_hold_cursor | object_sql_prepare | object_listen;

// What one Query or Parse text may do to session objects. Found by one pass over the text looking
// at word starts, so it costs about as much as the advisory-lock pre-check it replaces; false
// positives (a word in a string literal) only cost a catalog check after the transaction.
struct session_object_sql {
  session_objects creates = 0;  // kinds it may create
  bool releases = false;        // it may drop some (DROP, DISCARD, CLOSE, DEALLOCATE, UNLISTEN, pg_advisory_unlock*)
};
session_object_sql scan_session_objects(std::string_view sql) noexcept;

// One simple Query that answers one integer, the bits of the `kinds` this backend holds. Run
// between transactions (transaction-level advisory locks and ON COMMIT DROP tables are gone then).
std::string session_objects_query(session_objects kinds);
// The check's answer; nullopt-like 0 for anything that is not a number.
session_objects parse_session_objects(std::string_view value) noexcept;

// The statements that remove `held` from a server, cheapest first, "; "-separated for one simple
// Query (no DISCARD ALL: it cannot run in the implicit transaction of a multi-statement Query).
// DEALLOCATE ALL is among them for SQL PREPARE: it also drops the protocol statements the
// server's statement cache records, which the caller must forget.
std::string session_objects_reset(session_objects held);

// "a temporary table, LISTEN": for log lines.
std::string describe_session_objects(session_objects held);

}  // namespace pgfunnel::session
