// The session-object scan, the catalog check that says which objects a backend holds, and the reset that removes them.
#include "pgfunnel/session/session_objects.hpp"

#include <charconv>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::session {

namespace {

constexpr bool identifier_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Whether the word at [at, end) is `word` (lower case), ASCII case folded.
bool word_is(std::string_view sql, std::size_t at, std::size_t end, std::string_view word) noexcept {
  if (end - at != word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (ascii_lower(sql[at + i]) != word[i]) return false;
  return true;
}

}  // namespace

session_object_sql scan_session_objects(std::string_view sql) noexcept {
  session_object_sql out;
  const std::size_t n = sql.size();
  std::size_t previous_at = 0, previous_end = 0;  // the word before, for WITH HOLD vs WITHOUT HOLD
  for (std::size_t i = 0; i < n;) {
    if (!identifier_char(sql[i])) {
      ++i;
      continue;
    }
    const std::size_t at = i;
    while (i < n && identifier_char(sql[i])) ++i;
    // Most words start with none of these letters: one switch, then at most three compares.
    switch (ascii_lower(sql[at])) {
      case 't':
        // CREATE [GLOBAL | LOCAL] TEMP[ORARY], CREATE OR REPLACE TEMP VIEW, SELECT ... INTO TEMP: a
        // column named temp is not one.
        if ((word_is(sql, at, i, "temp") || word_is(sql, at, i, "temporary")) &&
            (word_is(sql, previous_at, previous_end, "create") || word_is(sql, previous_at, previous_end, "global") ||
             word_is(sql, previous_at, previous_end, "local") || word_is(sql, previous_at, previous_end, "into") ||
             word_is(sql, previous_at, previous_end, "replace")))
          out.creates |= object_temp_table;
        break;
      case 'h':
        if (word_is(sql, at, i, "hold") && word_is(sql, previous_at, previous_end, "with"))
          out.creates |= object_hold_cursor;  // WITH HOLD, not WITHOUT HOLD
        break;
      case 'p':
        if (word_is(sql, at, i, "prepare")) {
          out.creates |= object_sql_prepare;
        } else if (i - at > 13 && ascii_lower(sql[at + 1]) == 'g' && sql[at + 2] == '_') {
          // Session-level advisory lock functions; the _xact_ forms end with the transaction.
          if (word_is(sql, at, i, "pg_advisory_lock") || word_is(sql, at, i, "pg_advisory_lock_shared") ||
              word_is(sql, at, i, "pg_try_advisory_lock") || word_is(sql, at, i, "pg_try_advisory_lock_shared"))
            out.creates |= object_advisory_lock;
          else if (word_is(sql, at, i, "pg_advisory_unlock") || word_is(sql, at, i, "pg_advisory_unlock_shared") ||
                   word_is(sql, at, i, "pg_advisory_unlock_all"))
            out.releases = true;
        }
        break;
      case 'l':
        if (word_is(sql, at, i, "listen")) out.creates |= object_listen;
        break;
      case 'd':
        if (word_is(sql, at, i, "drop") || word_is(sql, at, i, "discard") || word_is(sql, at, i, "deallocate"))
          out.releases = true;
        break;
      case 'c':
        if (word_is(sql, at, i, "close")) out.releases = true;
        break;
      case 'u':
        if (word_is(sql, at, i, "unlisten")) out.releases = true;
        break;
      default:
        break;
    }
    previous_at = at;
    previous_end = i;
  }
  return out;
}

std::string session_objects_query(session_objects kinds) {
  // EXISTS, not count(*): the answer is which kinds, and each stops at its first row.
  struct part {
    session_object kind;
    std::string_view exists;
  };
  static constexpr part parts[] = {
      {object_advisory_lock,
       "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()"},
      {object_temp_table, "SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema()"},
      {object_hold_cursor, "SELECT 1 FROM pg_catalog.pg_cursors WHERE is_holdable"},
      {object_sql_prepare, "SELECT 1 FROM pg_catalog.pg_prepared_statements WHERE from_sql"},
      {object_listen, "SELECT 1 FROM pg_catalog.pg_listening_channels()"},
  };
  std::string sql = "SELECT 0";
  for (const part& p : parts) {
    if ((kinds & p.kind) == 0) continue;
    sql += " + CASE WHEN EXISTS (";
    sql += p.exists;
    sql += ") THEN ";
    sql += std::to_string(static_cast<int>(p.kind));
    sql += " ELSE 0 END";
  }
  return sql;
}

session_objects parse_session_objects(std::string_view value) noexcept {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size()) return 0;
  return static_cast<session_objects>(v & all_session_objects);
}

std::string session_objects_reset(session_objects held) {
  std::string sql;
  auto add = [&sql](std::string_view statement) {
    if (!sql.empty()) sql += "; ";
    sql += statement;
  };
  if (held & object_temp_table) add("DISCARD TEMP");
  if (held & object_hold_cursor) add("CLOSE ALL");
  if (held & object_listen) add("UNLISTEN *");
  if (held & object_sql_prepare) add("DEALLOCATE ALL");
  if (held & object_advisory_lock) add("SELECT pg_catalog.pg_advisory_unlock_all()");
  return sql;
}

std::string describe_session_objects(session_objects held) {
  std::string out;
  auto add = [&out](std::string_view what) {
    if (!out.empty()) out += ", ";
    out += what;
  };
  if (held & object_advisory_lock) add("session-level advisory locks");
  if (held & object_temp_table) add("a temporary table");
  if (held & object_hold_cursor) add("a WITH HOLD cursor");
  if (held & object_sql_prepare) add("SQL PREPARE");
  if (held & object_listen) add("LISTEN");
  return out;
}

}  // namespace pgfunnel::session
