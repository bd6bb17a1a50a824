// The admin console's language without I/O: command parsing, PgBouncer's result columns, result encoding.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgfunnel::admin {

// The databases a client names to reach the console instead of a pool.
bool is_console_database(std::string_view database);

enum class verb { show, pause, resume, reconnect, kill, kill_client, reload, shutdown, wait_close };

struct command {
  verb what = verb::show;
  std::string argument;  // SHOW: the subject, upper case ("POOLS"); others: a database or client id ("" = all)
};

// What parse_command() made of one simple Query.
struct parsed_command {
  std::optional<command> cmd;  // set when the text is a command we run
  bool empty = false;          // only whitespace and semicolons: EmptyQueryResponse
  std::string sqlstate;        // otherwise the error, in PgBouncer's words
  std::string message;
};

// PgBouncer's syntax: `VERB [argument][;]`, case-insensitive verbs and SHOW subjects, an argument
// that is a plain or double-quoted identifier; KILL_CLIENT takes a client id (c42 or 42).
parsed_command parse_command(std::string_view sql);

// Everything but SHOW changes something: admin_users only (stats_users may SHOW). SHOW FDS too, as
// in PgBouncer, whose rows carry every connection's cancel key.
bool needs_admin(const command& c);
// The CommandComplete tag PgBouncer sends: "SHOW", "PAUSE", "KILL_CLIENT", ...
std::string_view command_tag(verb v);

// "c42" or "42" → 42.
std::optional<std::uint64_t> parse_client_id(std::string_view text);

// The SHOW subjects we answer, for SHOW HELP and the parser.
std::span<const std::string_view> show_subjects();
// SHOW HELP's NoticeResponse detail.
std::string help_text();

// ---- results ------------------------------------------------------------------------------------

// Type OIDs as PgBouncer 1.18 sends them: int4 for counts, numeric for the SHOW STATS family, bytea
// for SHOW FDS' SCRAM keys.
enum class column_type : std::uint32_t { bytea = 17, int8 = 20, int4 = 23, text = 25, numeric = 1700 };

struct column {
  std::string_view name;
  column_type type;
};

// Column lists: PgBouncer 1.18's columns first, in its order; ours after them.
std::span<const column> pools_columns();
std::span<const column> stats_columns();
std::span<const column> stats_totals_columns();    // STATS_TOTALS
std::span<const column> stats_averages_columns();  // STATS_AVERAGES
std::span<const column> totals_columns();
std::span<const column> connections_columns();  // CLIENTS and SERVERS
std::span<const column> sockets_columns();      // SOCKETS and ACTIVE_SOCKETS: CLIENTS' plus the buffer columns
std::span<const column> fds_columns();
std::span<const column> dns_hosts_columns();
std::span<const column> dns_zones_columns();
std::span<const column> databases_columns();
std::span<const column> users_columns();
std::span<const column> config_columns();
std::span<const column> lists_columns();
std::span<const column> version_columns();
std::span<const column> state_columns();
std::span<const column> mem_columns();
// How many of a list's first columns are PgBouncer 1.18's (the rest are pgfunnel's).
std::size_t pgbouncer_column_count(std::string_view subject);

// A result in the text format: RowDescription, DataRows, CommandComplete.
class result_set {
 public:
  explicit result_set(std::span<const column> columns) : columns_(columns) {}

  result_set& row();  // starts a row; the cells that follow fill it left to right
  result_set& text(std::string_view value);
  result_set& number(std::int64_t value);
  result_set& number(std::uint64_t value);
  result_set& number(std::int32_t value) { return number(static_cast<std::int64_t>(value)); }
  result_set& number(std::uint32_t value) { return number(static_cast<std::uint64_t>(value)); }
  result_set& null();

  std::span<const column> columns() const { return columns_; }
  std::size_t row_count() const { return rows_.size(); }
  const std::vector<std::optional<std::string>>& row_at(std::size_t i) const { return rows_[i]; }

  // RowDescription + DataRow per row + CommandComplete(tag). A row with fewer cells than columns
  // is padded with NULLs (a bug, but never a broken message).
  void encode(std::string& out, std::string_view tag = "SHOW") const;

 private:
  std::span<const column> columns_;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

// PgBouncer's timestamp text: "2024-05-01 12:34:56 UTC".
std::string format_time(std::chrono::system_clock::time_point t);

// ---- statistics ---------------------------------------------------------------------------------

// Activity totals as SHOW STATS reads them (PgBouncer's meanings; times in microseconds).
struct stats_figures {
  std::uint64_t xact_count = 0, query_count = 0, bytes_received = 0, bytes_sent = 0;
  std::uint64_t xact_time = 0, query_time = 0, wait_time = 0, server_assignment_count = 0;
  stats_figures& operator+=(const stats_figures& o);
};

// PgBouncer's averages over a stats period from what changed in it: counts, bytes and wait time
// per second; transaction and query times per transaction and per query.
stats_figures averages(const stats_figures& delta, std::chrono::microseconds period);

}  // namespace pgfunnel::admin
