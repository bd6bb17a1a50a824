// Admin console commands without I/O: PgBouncer's syntax, its column lists and types, the result encoding.
#include "pgfunnel/admin/commands.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <ctime>

#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::admin {

namespace {

using enum column_type;

using session::iequals;

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Splits into words: runs of non-space characters, or "double-quoted identifiers" ("" inside is a
// quote). False on an unterminated quote.
bool split_words(std::string_view s, std::vector<std::string>& words) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    std::string word;
    if (s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            word += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        word += s[i++];
      }
      if (!closed) return false;
      if (i < s.size() && !is_space(s[i])) return false;  // "db"x
    } else {
      while (i < s.size() && !is_space(s[i])) word += s[i++];
    }
    words.push_back(std::move(word));
  }
  return true;
}

constexpr std::array<std::string_view, 20> subjects = {
    "HELP",    "POOLS",   "STATS",          "STATS_TOTALS", "STATS_AVERAGES", "TOTALS",   "CLIENTS",
    "SERVERS", "SOCKETS", "ACTIVE_SOCKETS", "FDS",          "DATABASES",      "USERS",    "CONFIG",
    "LISTS",   "VERSION", "STATE",          "MEM",          "DNS_HOSTS",      "DNS_ZONES"};

struct verb_name {
  std::string_view name;
  verb what;
  bool takes_argument;  // optional unless required
  bool requires_argument;
};
constexpr std::array<verb_name, 9> verbs = {{
    {"SHOW", verb::show, true, true},
    {"PAUSE", verb::pause, true, false},
    {"RESUME", verb::resume, true, false},
    {"RECONNECT", verb::reconnect, true, false},
    {"KILL", verb::kill, true, true},
    {"KILL_CLIENT", verb::kill_client, true, true},
    {"RELOAD", verb::reload, false, false},
    {"SHUTDOWN", verb::shutdown, false, false},
    {"WAIT_CLOSE", verb::wait_close, true, false},
}};

parsed_command invalid(std::string_view text) {
  parsed_command p;
  p.sqlstate = "08P01";
  p.message = fmt::format("invalid command '{}', use SHOW HELP;", text);
  return p;
}

// PgBouncer 1.18's columns, then ours (marked); pgbouncer_column_count() says where ours start.
constexpr column pools_cols[] = {
    {"database", text},
    {"user", text},
    {"cl_active", int4},
    {"cl_waiting", int4},
    {"cl_active_cancel_req", int4},
    {"cl_waiting_cancel_req", int4},
    {"sv_active", int4},
    {"sv_active_cancel", int4},
    {"sv_being_canceled", int4},
    {"sv_idle", int4},
    {"sv_used", int4},
    {"sv_tested", int4},
    {"sv_login", int4},
    {"maxwait", int4},
    {"maxwait_us", int4},
    {"pool_mode", text},
    // pgfunnel: servers pinned to one client (by advisory locks or session objects), the
    // prepared-statement cache, then servers pinned by session objects other than advisory locks
    {"sv_pinned", int4},
    {"paused", int4},
    {"ps_hits", int8},
    {"ps_misses", int8},
    {"ps_injected", int8},
    {"ps_evictions", int8},
    {"sv_pinned_objects", int4},
};
constexpr std::size_t pools_pgbouncer = 16;

constexpr column stats_cols[] = {
    {"database", text},
    {"total_xact_count", numeric},
    {"total_query_count", numeric},
    {"total_received", numeric},
    {"total_sent", numeric},
    {"total_xact_time", numeric},
    {"total_query_time", numeric},
    {"total_wait_time", numeric},
    {"avg_xact_count", numeric},
    {"avg_query_count", numeric},
    {"avg_recv", numeric},
    {"avg_sent", numeric},
    {"avg_xact_time", numeric},
    {"avg_query_time", numeric},
    {"avg_wait_time", numeric},
    // pgfunnel (PgBouncer 1.23's names)
    {"total_server_assignment_count", numeric},
    {"avg_server_assignment_count", numeric},
};
constexpr std::size_t stats_pgbouncer = 15;

constexpr column stats_figures_cols[] = {
    {"database", text},
    {"xact_count", numeric},
    {"query_count", numeric},
    {"bytes_received", numeric},
    {"bytes_sent", numeric},
    {"xact_time", numeric},
    {"query_time", numeric},
    {"wait_time", numeric},
    // pgfunnel (PgBouncer 1.23's name)
    {"server_assignment_count", numeric},
};
constexpr std::size_t stats_figures_pgbouncer = 8;

constexpr column totals_cols[] = {{"name", text}, {"value", numeric}};

constexpr column connections_cols[] = {
    {"type", text},
    {"user", text},
    {"database", text},
    {"state", text},
    {"addr", text},
    {"port", int4},
    {"local_addr", text},
    {"local_port", int4},
    {"connect_time", text},
    {"request_time", text},
    {"wait", int4},
    {"wait_us", int4},
    {"close_needed", int4},
    {"ptr", text},
    {"link", text},
    {"remote_pid", int4},
    {"tls", text},
    {"application_name", text},
    // pgfunnel (PgBouncer 1.21 and 1.24's names)
    {"prepared_statements", int4},
    {"id", int8},
};
constexpr std::size_t connections_pgbouncer = 18;

// SHOW SOCKETS: SHOW CLIENTS' PgBouncer columns, PgBouncer's I/O buffer positions, then ours (as
// in CLIENTS and SERVERS). Built from connections_cols so the two cannot drift apart.
constexpr column socket_buffer_cols[] = {
    {"recv_pos", int4},   {"pkt_pos", int4},   {"pkt_remain", int4}, {"send_pos", int4},
    {"send_remain", int4}, {"pkt_avail", int4}, {"send_avail", int4},
};
constexpr auto sockets_cols = [] {
  constexpr std::size_t ours = std::size(connections_cols) - connections_pgbouncer;
  std::array<column, std::size(connections_cols) + std::size(socket_buffer_cols)> out{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < connections_pgbouncer; ++i) out[n++] = connections_cols[i];
  for (const column& c : socket_buffer_cols) out[n++] = c;
  for (std::size_t i = 0; i < ours; ++i) out[n++] = connections_cols[connections_pgbouncer + i];
  return out;
}();
constexpr std::size_t sockets_pgbouncer = 25;

constexpr column fds_cols[] = {
    {"fd", int4},
    {"task", text},
    {"user", text},
    {"database", text},
    {"addr", text},
    {"port", int4},
    {"cancel", int8},
    {"link", int4},
    {"client_encoding", text},
    {"std_strings", text},
    {"datestyle", text},
    {"timezone", text},
    {"password", text},
    {"scram_client_key", bytea},
    {"scram_server_key", bytea},
};
constexpr column dns_hosts_cols[] = {{"hostname", text}, {"ttl", int8}, {"addrs", text}};
constexpr column dns_zones_cols[] = {{"zonename", text}, {"serial", int8}, {"count", int4}};

constexpr column databases_cols[] = {
    {"name", text},
    {"host", text},
    {"port", int4},
    {"database", text},
    {"force_user", text},
    {"pool_size", int4},
    {"min_pool_size", int4},
    {"reserve_pool", int4},
    {"pool_mode", text},
    {"max_connections", int4},
    {"current_connections", int4},
    {"paused", int4},
    {"disabled", int4},
};
constexpr column users_cols[] = {{"name", text}, {"pool_mode", text}};
constexpr column config_cols[] = {{"key", text}, {"value", text}, {"default", text}, {"changeable", text}};
constexpr column lists_cols[] = {{"list", text}, {"items", int4}};
constexpr column version_cols[] = {{"version", text}};
// PgBouncer 1.21's SHOW STATE (1.18 has none).
constexpr column state_cols[] = {{"active", text}, {"paused", text}, {"suspended", text}};
constexpr column mem_cols[] = {{"name", text}, {"size", int4}, {"used", int4}, {"free", int4}, {"memtotal", int4}};

}  // namespace

bool is_console_database(std::string_view database) { return database == "pgbouncer" || database == "pgfunnel"; }

parsed_command parse_command(std::string_view sql) {
  // Trailing semicolons and whitespace are not part of the command.
  std::string_view body = sql;
  while (!body.empty() && (is_space(body.back()) || body.back() == ';')) body.remove_suffix(1);
  while (!body.empty() && is_space(body.front())) body.remove_prefix(1);
  if (body.empty()) {
    parsed_command p;
    p.empty = true;
    return p;
  }
  std::vector<std::string> words;
  if (!split_words(body, words) || words.empty() || words.size() > 2) return invalid(body);
  const verb_name* v = nullptr;
  for (const auto& candidate : verbs)
    if (iequals(words[0], candidate.name)) v = &candidate;
  if (v == nullptr) return invalid(body);
  if (words.size() == 2 && !v->takes_argument) return invalid(body);
  if (words.size() == 1 && v->requires_argument) {
    if (v->what == verb::kill) {
      parsed_command p;
      p.sqlstate = "08P01";
      p.message = "a database is required";
      return p;
    }
    if (v->what == verb::kill_client) {
      parsed_command p;
      p.sqlstate = "08P01";
      p.message = "a client id is required";
      return p;
    }
    return invalid(body);
  }
  command c;
  c.what = v->what;
  if (words.size() == 2) c.argument = words[1];
  if (c.what == verb::show) {
    c.argument = upper(c.argument);
    bool known = false;
    for (auto s : subjects) known = known || s == c.argument;
    if (!known) return invalid(body);
  }
  if (c.what == verb::kill_client && !parse_client_id(c.argument)) {
    parsed_command p;
    p.sqlstate = "08P01";
    p.message = fmt::format("invalid client id '{}': use the id SHOW CLIENTS lists (c42 or 42)", c.argument);
    return p;
  }
  parsed_command p;
  p.cmd = std::move(c);
  return p;
}

bool needs_admin(const command& c) { return c.what != verb::show || c.argument == "FDS"; }

std::string_view command_tag(verb v) {
  for (const auto& candidate : verbs)
    if (candidate.what == v) return candidate.name;
  return "SHOW";
}

std::optional<std::uint64_t> parse_client_id(std::string_view text) {
  if (!text.empty() && (text[0] == 'c' || text[0] == 'C')) text.remove_prefix(1);
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

std::span<const std::string_view> show_subjects() { return subjects; }

std::string help_text() {
  return "\n"
         "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
         "\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
         "\tSHOW DNS_HOSTS|DNS_ZONES\n"
         "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
         "\tRELOAD\n"
         "\tPAUSE [<db>]\n"
         "\tRESUME [<db>]\n"
         "\tRECONNECT [<db>]\n"
         "\tKILL <db>\n"
         "\tKILL_CLIENT <client_id>\n"
         "\tSHUTDOWN\n"
         "\tWAIT_CLOSE [<db>]\n";
}

std::span<const column> pools_columns() { return pools_cols; }
std::span<const column> stats_columns() { return stats_cols; }
std::span<const column> stats_totals_columns() { return stats_figures_cols; }
std::span<const column> stats_averages_columns() { return stats_figures_cols; }
std::span<const column> totals_columns() { return totals_cols; }
std::span<const column> connections_columns() { return connections_cols; }
std::span<const column> sockets_columns() { return sockets_cols; }
std::span<const column> fds_columns() { return fds_cols; }
std::span<const column> dns_hosts_columns() { return dns_hosts_cols; }
std::span<const column> dns_zones_columns() { return dns_zones_cols; }
std::span<const column> databases_columns() { return databases_cols; }
std::span<const column> users_columns() { return users_cols; }
std::span<const column> config_columns() { return config_cols; }
std::span<const column> lists_columns() { return lists_cols; }
std::span<const column> version_columns() { return version_cols; }
std::span<const column> state_columns() { return state_cols; }
std::span<const column> mem_columns() { return mem_cols; }

std::size_t pgbouncer_column_count(std::string_view subject) {
  if (subject == "POOLS") return pools_pgbouncer;
  if (subject == "STATS") return stats_pgbouncer;
  if (subject == "STATS_TOTALS" || subject == "STATS_AVERAGES") return stats_figures_pgbouncer;
  if (subject == "CLIENTS" || subject == "SERVERS") return connections_pgbouncer;
  if (subject == "SOCKETS" || subject == "ACTIVE_SOCKETS") return sockets_pgbouncer;
  if (subject == "FDS") return std::size(fds_cols);
  if (subject == "DNS_HOSTS") return std::size(dns_hosts_cols);
  if (subject == "DNS_ZONES") return std::size(dns_zones_cols);
  if (subject == "TOTALS") return std::size(totals_cols);
  if (subject == "DATABASES") return std::size(databases_cols);
  if (subject == "USERS") return std::size(users_cols);
  if (subject == "CONFIG") return std::size(config_cols);
  if (subject == "LISTS") return std::size(lists_cols);
  if (subject == "VERSION") return std::size(version_cols);
  if (subject == "MEM") return std::size(mem_cols);
  return 0;  // STATE and HELP: no 1.18 columns to match
}

result_set& result_set::row() {
  rows_.emplace_back();
  rows_.back().reserve(columns_.size());
  return *this;
}

result_set& result_set::text(std::string_view value) {
  rows_.back().emplace_back(std::string(value));
  return *this;
}

result_set& result_set::number(std::int64_t value) {
  rows_.back().emplace_back(std::to_string(value));
  return *this;
}

result_set& result_set::number(std::uint64_t value) {
  rows_.back().emplace_back(std::to_string(value));
  return *this;
}

result_set& result_set::null() {
  rows_.back().emplace_back(std::nullopt);
  return *this;
}

void result_set::encode(std::string& out, std::string_view tag) const {
  {
    protocol::message_builder m(out, 'T');
    m.i16(static_cast<std::int16_t>(columns_.size()));
    for (const auto& c : columns_) {
      const std::int16_t size = c.type == int4 ? 4 : c.type == int8 ? 8 : -1;
      m.cstring(c.name).i32(0).i16(0).i32(static_cast<std::int32_t>(c.type)).i16(size).i32(-1).i16(0);
    }
  }
  for (const auto& r : rows_) {
    protocol::message_builder m(out, 'D');
    m.i16(static_cast<std::int16_t>(columns_.size()));
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i < r.size() && r[i]) {
        m.i32(static_cast<std::int32_t>(r[i]->size())).raw(*r[i]);
      } else {
        m.i32(-1);
      }
    }
  }
  protocol::message_builder(out, 'C').cstring(tag);
}

std::string format_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

stats_figures& stats_figures::operator+=(const stats_figures& o) {
  xact_count += o.xact_count;
  query_count += o.query_count;
  bytes_received += o.bytes_received;
  bytes_sent += o.bytes_sent;
  xact_time += o.xact_time;
  query_time += o.query_time;
  wait_time += o.wait_time;
  server_assignment_count += o.server_assignment_count;
  return *this;
}

stats_figures averages(const stats_figures& delta, std::chrono::microseconds period) {
  stats_figures avg;
  if (period.count() <= 0) return avg;
  const auto us = static_cast<unsigned __int128>(period.count());
  auto per_second = [&](std::uint64_t n) {
    return static_cast<std::uint64_t>(static_cast<unsigned __int128>(n) * 1'000'000 / us);
  };
  avg.xact_count = per_second(delta.xact_count);
  avg.query_count = per_second(delta.query_count);
  avg.bytes_received = per_second(delta.bytes_received);
  avg.bytes_sent = per_second(delta.bytes_sent);
  avg.wait_time = per_second(delta.wait_time);
  avg.server_assignment_count = per_second(delta.server_assignment_count);
  if (delta.xact_count > 0) avg.xact_time = delta.xact_time / delta.xact_count;
  if (delta.query_count > 0) avg.query_time = delta.query_time / delta.query_count;
  return avg;
}

}  // namespace pgfunnel::admin
