// The admin console's Asio side: the simple-query loop, the snapshots SHOW reads, and PAUSE/KILL/RELOAD.
#include "pgfunnel/admin/console.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "pgfunnel/admin/commands.hpp"
#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/client_login.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

#ifndef PGFUNNEL_VERSION
#define PGFUNNEL_VERSION "dev"
#endif

namespace pgfunnel::admin {

namespace asio = net::asio;
using net::error_code;
using proxy::client_entry;
using proxy::client_state;

namespace {

// The largest query the console reads; its commands are a few dozen bytes.
constexpr std::uint32_t max_console_message = 64 * 1024;
// How often PAUSE and WAIT_CLOSE look again while they wait.
constexpr auto poll_interval = std::chrono::milliseconds(20);

enum class access { none, stats, admin };

access access_for(const config::settings& s, std::string_view user) {
  auto has = [&](const std::vector<std::string>& names) { return std::ranges::find(names, user) != names.end(); };
  if (has(s.admin_users)) return access::admin;
  if (has(s.stats_users)) return access::stats;
  return access::none;
}

struct address {
  std::string host;
  int port = 0;
};

address to_address(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    return {text, ntohs(a.sin_port)};
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    return {text, ntohs(a.sin6_port)};
  }
  return {"unix", 0};
}

address peer_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return to_address(ss);
}

address local_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return to_address(ss);
}

address of(const net::tcp::endpoint& e) { return {e.address().to_string(), e.port()}; }

// Steady-clock instants as wall-clock text, against one pair of "now"s per result.
struct clocks {
  net::clock::time_point steady = net::clock::now();
  std::chrono::system_clock::time_point wall = std::chrono::system_clock::now();
  std::string text(net::clock::time_point t) const {
    return format_time(wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(steady - t));
  }
};

stats_figures figures_of(const pool::stats_totals& t) {
  return {t.xact_count,   t.query_count,   t.bytes_received, t.bytes_sent,
          t.xact_time_us, t.query_time_us, t.wait_time_us,   t.server_assignments};
}

// Per database (PgBouncer's SHOW STATS rows): totals, and the last stats period's averages.
struct database_stats {
  stats_figures total;
  stats_figures period_delta;
  stats_figures rates;  // summed per-pool per-second rates
};

class console {
 public:
  console(net::stream& client, proxy::proxy_context& context, client_entry& self, access level, log::conn_id id)
      : client_(client), context_(context), self_(self), level_(level), id_(id) {}

  net::awaitable<void> run();

 private:
  net::awaitable<void> execute(const command& c, std::string& out);
  // Appends the reply to one SHOW (no ReadyForQuery).
  void show(const std::string& subject, std::string& out);
  // Polls `done` until it holds; false when the console's client left meanwhile.
  net::awaitable<bool> wait_until(const std::function<bool()>& done);
  bool client_left() const;

  std::vector<std::shared_ptr<pool::pool>> pools_of(const std::string& database) const;
  std::map<std::string, database_stats> stats_by_database() const;
  result_set show_pools() const;
  result_set show_stats() const;
  result_set show_stats_figures(bool averages) const;
  result_set show_totals() const;
  result_set show_clients() const;
  result_set show_servers() const;
  result_set show_sockets(bool active_only) const;
  result_set show_fds() const;
  result_set show_dns_hosts() const;
  result_set show_dns_zones() const;
  // SHOW CLIENTS' and SERVERS' rows; with `sockets`, SHOW SOCKETS' (PgBouncer's list names as the
  // state, its buffer columns) and, with `active_only`, only ACTIVE_SOCKETS' rows.
  void client_rows(result_set& r, bool sockets, bool active_only) const;
  void server_rows(result_set& r, bool sockets, bool active_only) const;
  result_set show_databases() const;
  result_set show_users() const;
  result_set show_config() const;
  result_set show_lists() const;
  result_set show_state() const;
  result_set show_mem() const;

  net::stream& client_;
  proxy::proxy_context& context_;
  client_entry& self_;
  const access level_;
  const log::conn_id id_;
};

void error(std::string& out, std::string_view sqlstate, std::string_view message, std::string_view detail = {}) {
  protocol::encode_error_response(out, {"ERROR", sqlstate, message, detail});
}

net::awaitable<void> console::run() {
  std::string out;
  protocol::encode_authentication_ok(out);
  // What PgBouncer's console reports, so psql and drivers set themselves up the same way.
  protocol::encode_parameter_status(out, "server_version", "1.18.0/pgfunnel");
  protocol::encode_parameter_status(out, "server_encoding", "UTF8");
  protocol::encode_parameter_status(out, "client_encoding", "UTF8");
  protocol::encode_parameter_status(out, "DateStyle", "ISO");
  protocol::encode_parameter_status(out, "TimeZone", "GMT");
  protocol::encode_parameter_status(out, "standard_conforming_strings", "on");
  protocol::encode_parameter_status(out, "integer_datetimes", "on");
  if (!self_.application_name.empty())
    protocol::encode_parameter_status(out, "application_name", self_.application_name);
  protocol::encode_ready_for_query(out, protocol::transaction_status::idle);
  if (co_await net::write_all(client_, out)) co_return;
  log::info(id_, "admin console: {} logged in ({})", *self_.user, level_ == access::admin ? "admin" : "stats");

  const protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::frontend, max_console_message);
  std::string buffer;
  bool skipping = false;  // an extended-protocol batch was refused: its messages up to Sync are dropped
  for (;;) {
    protocol::frame frame;
    if (auto ec = co_await net::read_message(client_, reader, buffer, frame)) {
      if (ec.category() == protocol::error_category()) {
        const std::string message = fmt::format("invalid frontend message: {}", ec.message());
        co_await proxy::send_error(client_, {"FATAL", "08P01", message});
      }
      co_return;
    }
    out.clear();
    switch (frame.tag) {
      case 'X':
        co_return;
      case 'Q': {
        std::string_view sql(reinterpret_cast<const char*>(frame.body.data()), frame.body.size());
        if (!sql.empty() && sql.back() == '\0') sql.remove_suffix(1);
        const auto at = net::clock::now();
        self_.request_at.store(at.time_since_epoch().count(), std::memory_order_relaxed);
        const parsed_command p = parse_command(sql);
        if (p.empty) {
          protocol::message_builder(out, 'I');
        } else if (!p.cmd) {
          error(out, p.sqlstate, p.message);
        } else if (needs_admin(*p.cmd) && level_ != access::admin) {
          log::warn(id_, "admin console: {} may not run {} (stats_users may only SHOW)", *self_.user, sql);
          error(out, "42501", "admin access needed");
        } else {
          std::string command_out;
          co_await execute(*p.cmd, command_out);
          out += command_out;
        }
        protocol::encode_ready_for_query(out, protocol::transaction_status::idle);
        break;
      }
      case 'S':
        skipping = false;
        protocol::encode_ready_for_query(out, protocol::transaction_status::idle);
        break;
      case 'H':
        break;
      default:
        if (!skipping) error(out, "08P01", "the admin console takes simple queries only (no extended protocol)");
        skipping = true;
        break;
    }
    if (!out.empty() && co_await net::write_all(client_, out)) co_return;
  }
}

bool console::client_left() const {
  char byte;
  const ssize_t n = ::recv(client_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

net::awaitable<bool> console::wait_until(const std::function<bool()>& done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!done()) {
    if (client_left()) co_return false;
    timer.expires_after(poll_interval);
    co_await timer.async_wait(net::use_nothrow);
  }
  co_return true;
}

std::vector<std::shared_ptr<pool::pool>> console::pools_of(const std::string& database) const {
  auto pools = context_.pools.all();
  if (!database.empty()) std::erase_if(pools, [&](const auto& p) { return p->database() != database; });
  return pools;
}

net::awaitable<void> console::execute(const command& c, std::string& out) {
  const std::string_view tag = command_tag(c.what);
  if (c.what == verb::show) {
    show(c.argument, out);
    co_return;
  }
  if (c.what == verb::kill_client) {
    const std::uint64_t n = *parse_client_id(c.argument);
    if (!context_.clients.kill(n)) {
      error(out, "08P01", fmt::format("no such client: c{}", n));
      co_return;
    }
    log::info(id_, "admin console: {} ran KILL_CLIENT c{}", *self_.user, n);
    protocol::message_builder(out, 'C').cstring(tag);
    co_return;
  }
  if (c.what == verb::reload || c.what == verb::shutdown) {
    const auto& hook = c.what == verb::reload ? context_.reload_requested : context_.shutdown_requested;
    if (!hook) {
      error(out, "0A000", fmt::format("{} is not available in this process", tag));
      co_return;
    }
    log::info(id_, "admin console: {} ran {}", *self_.user, tag);
    hook();
    protocol::message_builder(out, 'C').cstring(tag);
    co_return;
  }

  // The rest act on pools: those of one database, or all of them.
  const auto pools = pools_of(c.argument);
  if (!c.argument.empty() && pools.empty()) {
    error(out, "08P01", fmt::format("no such database: {}", c.argument));
    co_return;
  }
  log::info(id_, "admin console: {} ran {}{}{}", *self_.user, tag, c.argument.empty() ? "" : " ", c.argument);
  switch (c.what) {
    case verb::pause: {
      for (const auto& p : pools) p->pause();
      // Like PgBouncer, PAUSE returns once every leased server has come back.
      const bool done = co_await wait_until(
          [&] { return std::ranges::all_of(pools, [](const auto& p) { return p->counts().active == 0; }); });
      if (!done) co_return;
      break;
    }
    case verb::resume:
      for (const auto& p : pools) p->resume();
      break;
    case verb::reconnect:
      for (const auto& p : pools) p->reconnect();
      break;
    case verb::kill: {
      const pool::server_error why{"57P01", "terminating connection due to administrator command",
                                   fmt::format("KILL {} on the pgfunnel admin console", c.argument)};
      for (const auto& p : pools) p->kill(why);
      const std::string database = c.argument;
      const std::size_t n =
          context_.clients.kill_if([&](const client_entry& e) { return e.pool != nullptr && *e.database == database; });
      log::info(id_, "admin console: KILL {}: {} clients ended, database paused until RESUME", database, n);
      break;
    }
    case verb::wait_close: {
      const bool done = co_await wait_until(
          [&] { return std::ranges::all_of(pools, [](const auto& p) { return p->close_needed_count() == 0; }); });
      if (!done) co_return;
      break;
    }
    default:
      break;
  }
  protocol::message_builder(out, 'C').cstring(tag);
}

void console::show(const std::string& subject, std::string& out) {
  if (subject == "HELP") {
    protocol::encode_notice_response(out, {"NOTICE", "00000", "Console usage", help_text()});
    protocol::message_builder(out, 'C').cstring("SHOW");
    return;
  }
  if (subject == "VERSION") {
    result_set r(version_columns());
    // Exporters read PgBouncer's version from here to know its columns: ours are 1.18's.
    r.row().text("PgBouncer 1.18.0 compatible (pgfunnel " PGFUNNEL_VERSION ")");
    r.encode(out);
    return;
  }
  result_set r = subject == "POOLS"            ? show_pools()
                 : subject == "STATS"          ? show_stats()
                 : subject == "STATS_TOTALS"   ? show_stats_figures(false)
                 : subject == "STATS_AVERAGES" ? show_stats_figures(true)
                 : subject == "TOTALS"         ? show_totals()
                 : subject == "CLIENTS"        ? show_clients()
                 : subject == "SERVERS"        ? show_servers()
                 : subject == "SOCKETS"        ? show_sockets(false)
                 : subject == "ACTIVE_SOCKETS" ? show_sockets(true)
                 : subject == "FDS"            ? show_fds()
                 : subject == "DNS_HOSTS"      ? show_dns_hosts()
                 : subject == "DNS_ZONES"      ? show_dns_zones()
                 : subject == "DATABASES"      ? show_databases()
                 : subject == "USERS"          ? show_users()
                 : subject == "CONFIG"         ? show_config()
                 : subject == "LISTS"          ? show_lists()
                 : subject == "STATE"          ? show_state()
                                               : show_mem();
  r.encode(out);
}

result_set console::show_pools() const {
  struct client_counts {
    unsigned active = 0, waiting = 0;
    std::int64_t max_wait_ticks = 0;
  };
  std::unordered_map<const pool::pool*, client_counts> by_pool;
  unsigned console_clients = 0;
  const auto now = net::clock::now().time_since_epoch().count();
  context_.clients.for_each([&](const client_entry& e) {
    if (e.pool == nullptr) {
      ++console_clients;
      return;
    }
    auto& c = by_pool[e.pool];
    if (e.state.load(std::memory_order_relaxed) == client_state::waiting) {
      ++c.waiting;
      c.max_wait_ticks = std::max(c.max_wait_ticks, now - e.request_at.load(std::memory_order_relaxed));
    } else {
      ++c.active;
    }
  });
  result_set r(pools_columns());
  // The console's own pool, as PgBouncer lists it.
  r.row().text("pgbouncer").text("pgbouncer").number(console_clients);
  for (int i = 0; i < 12; ++i) r.number(0);
  r.text("statement");
  for (int i = 0; i < 6; ++i) r.number(0);
  for (const auto& p : context_.pools.all()) {
    const auto counts = p->counts();
    const auto c = by_pool[p.get()];
    const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(net::clock::duration(c.max_wait_ticks));
    auto& ps = p->statements();
    r.row().text(p->database()).text(p->user());
    r.number(c.active).number(c.waiting).number(0).number(0);  // cl_active, cl_waiting, cancel requests
    r.number(counts.active).number(0).number(0);               // sv_active, sv_active_cancel, sv_being_canceled
    // sv_idle, sv_used (idle past server_check_delay), sv_tested (0: a server running server_check_query
    // is already leased to the client it is checked for, so counted active), sv_login
    r.number(counts.idle - counts.used).number(counts.used).number(0).number(counts.connecting);
    r.number(static_cast<std::int64_t>(wait.count() / 1'000'000))
        .number(static_cast<std::int64_t>(wait.count() % 1'000'000));
    r.text("transaction");
    r.number(ps.pinned.load()).number(p->paused() ? 1 : 0);
    r.number(ps.hits.load()).number(ps.misses.load()).number(ps.injected.load()).number(ps.evictions.load());
    r.number(ps.pinned_objects.load());
  }
  return r;
}

std::map<std::string, database_stats> console::stats_by_database() const {
  std::map<std::string, database_stats> out;
  out["pgbouncer"];  // the console's database, as PgBouncer lists it
  for (const auto& p : context_.pools.all()) {
    auto& d = out[p->database()];
    d.total += figures_of(p->totals());
    const auto period = p->last_stats_period();
    const stats_figures delta = figures_of(period.delta);
    d.period_delta += delta;
    d.rates += averages(delta, period.length);
  }
  return out;
}

namespace {
// A database's averages: rates summed over its pools, times from its pools' summed changes.
stats_figures database_averages(const database_stats& d) {
  stats_figures a = d.rates;
  a.xact_time = d.period_delta.xact_count > 0 ? d.period_delta.xact_time / d.period_delta.xact_count : 0;
  a.query_time = d.period_delta.query_count > 0 ? d.period_delta.query_time / d.period_delta.query_count : 0;
  return a;
}
}  // namespace

result_set console::show_stats() const {
  result_set r(stats_columns());
  for (const auto& [database, d] : stats_by_database()) {
    const stats_figures& t = d.total;
    const stats_figures a = database_averages(d);
    r.row().text(database);
    r.number(t.xact_count).number(t.query_count).number(t.bytes_received).number(t.bytes_sent);
    r.number(t.xact_time).number(t.query_time).number(t.wait_time);
    r.number(a.xact_count).number(a.query_count).number(a.bytes_received).number(a.bytes_sent);
    r.number(a.xact_time).number(a.query_time).number(a.wait_time);
    r.number(t.server_assignment_count).number(a.server_assignment_count);
  }
  return r;
}

result_set console::show_stats_figures(bool averaged) const {
  result_set r(averaged ? stats_averages_columns() : stats_totals_columns());
  for (const auto& [database, d] : stats_by_database()) {
    const stats_figures f = averaged ? database_averages(d) : d.total;
    r.row().text(database);
    r.number(f.xact_count).number(f.query_count).number(f.bytes_received).number(f.bytes_sent);
    r.number(f.xact_time).number(f.query_time).number(f.wait_time).number(f.server_assignment_count);
  }
  return r;
}

result_set console::show_totals() const {
  database_stats all;
  for (const auto& [database, d] : stats_by_database()) {
    all.total += d.total;
    all.period_delta += d.period_delta;
    all.rates += d.rates;
  }
  const stats_figures& t = all.total;
  const stats_figures a = database_averages(all);
  result_set r(totals_columns());
  auto add = [&](std::string_view name, std::uint64_t value) { r.row().text(name).number(value); };
  add("total_xact_count", t.xact_count);
  add("total_query_count", t.query_count);
  add("total_client_bytes", t.bytes_received);
  add("total_server_bytes", t.bytes_sent);
  add("total_xact_time", t.xact_time);
  add("total_query_time", t.query_time);
  add("total_wait_time", t.wait_time);
  add("avg_xact_count", a.xact_count);
  add("avg_query_count", a.query_count);
  add("avg_client_bytes", a.bytes_received);
  add("avg_server_bytes", a.bytes_sent);
  add("avg_xact_time", a.xact_time);
  add("avg_query_time", a.query_time);
  add("avg_wait_time", a.wait_time);
  // pgfunnel's: server assignments, and the failures clients were shown, by kind.
  add("total_server_assignment_count", t.server_assignment_count);
  const auto& e = context_.errors;
  add("errors_query_wait_timeout", e.pool_timeout.load());
  add("errors_max_client_conn", e.max_client_conn.load());
  add("errors_upstream_refused", e.upstream_refused.load());
  add("errors_upstream_error", e.upstream_error.load());
  add("errors_login_failed", e.login_failed.load());
  add("errors_server_lost", e.server_lost.load());
  return r;
}

result_set console::show_clients() const {
  result_set r(connections_columns());
  client_rows(r, false, false);
  return r;
}

result_set console::show_servers() const {
  result_set r(connections_columns());
  server_rows(r, false, false);
  return r;
}

result_set console::show_sockets(bool active_only) const {
  result_set r(sockets_columns());
  client_rows(r, true, active_only);
  server_rows(r, true, active_only);
  return r;
}

namespace {
// SHOW SOCKETS' recv_pos, pkt_pos, pkt_remain, send_pos, send_remain, pkt_avail and send_avail are
// offsets and amounts in PgBouncer's per-socket I/O buffer. pgfunnel's buffers belong to the
// session's own thread and are not readable from the console without a data race: 0.
void buffer_columns(result_set& r) {
  for (int i = 0; i < 7; ++i) r.number(0);
}
}  // namespace

// ACTIVE_SOCKETS: PgBouncer lists the sockets whose buffer holds bytes not yet passed on. We cannot
// look into our buffers (above), so we list the sockets that can hold such bytes: clients waiting
// for a server (their request waits in pgfunnel, as it does in PgBouncer's buffer) or holding one,
// the servers they hold, and this console's own socket (its request is being answered). Idle
// clients and parked servers are left out; PgBouncer's buffers for them are empty too.
void console::client_rows(result_set& r, bool sockets, bool active_only) const {
  const clocks now;
  context_.clients.for_each([&](const client_entry& e) {
    const auto state = e.state.load(std::memory_order_relaxed);
    if (active_only && state == client_state::idle && &e != &self_) return;
    const auto request_ticks = e.request_at.load(std::memory_order_relaxed);
    const net::clock::time_point request =
        request_ticks == 0 ? e.connected_at : net::clock::time_point(net::clock::duration(request_ticks));
    const auto waited = state == client_state::waiting
                            ? std::chrono::duration_cast<std::chrono::microseconds>(now.steady - request).count()
                            : 0;
    const std::uint64_t link = e.link.load(std::memory_order_relaxed);
    const address peer = peer_of(e.fd), local = local_of(e.fd);
    // PgBouncer's SHOW CLIENTS says active (idle or linked) / waiting; SHOW SOCKETS names its lists.
    const bool waiting = state == client_state::waiting;
    const std::string_view state_text =
        sockets ? (waiting ? "cl_waiting" : "cl_active") : (waiting ? "waiting" : "active");
    r.row().text("C").text(*e.user).text(*e.database).text(state_text);
    r.text(peer.host).number(peer.port).text(local.host).number(local.port);
    r.text(now.text(e.connected_at)).text(now.text(request));
    r.number(static_cast<std::int64_t>(waited / 1'000'000)).number(static_cast<std::int64_t>(waited % 1'000'000));
    r.number(0).text(fmt::format("c{}", e.id)).text(link == 0 ? std::string() : fmt::format("s{}", link));
    r.number(0).text(e.tls).text(e.application_name);
    if (sockets) buffer_columns(r);
    r.number(e.prepared_statements.load(std::memory_order_relaxed)).number(e.id);
  });
}

void console::server_rows(result_set& r, bool sockets, bool active_only) const {
  const clocks now;
  struct holder_info {
    std::uint64_t client = 0;
    std::int64_t request_at = 0;  // the holder's current request: the server's too
  };
  std::unordered_map<std::uint64_t, holder_info> client_of;  // by server number
  context_.clients.for_each([&](const client_entry& e) {
    if (const auto s = e.link.load(std::memory_order_relaxed); s != 0)
      client_of[s] = {e.id, e.request_at.load(std::memory_order_relaxed)};
  });
  for (const auto& p : context_.pools.all()) {
    const pool::pool_settings settings = p->settings();
    for (const auto& s : p->servers()) {
      if (active_only && !s.active) continue;
      const address peer = of(s.peer), local = of(s.local);
      const auto holder = client_of.find(s.id.n);
      // "used": idle past server_check_delay, so checked before its next client (as SHOW POOLS' sv_used).
      const bool used = !s.active && pool::due_check(settings, s.created, s.last_used, now.steady);
      const std::string state = std::string(sockets ? "sv_" : "") + (s.active ? "active" : used ? "used" : "idle");
      r.row().text("S").text(p->user()).text(p->database()).text(state);
      r.text(peer.host).number(peer.port).text(local.host).number(local.port);
      net::clock::time_point request = s.active ? s.created : s.last_used;
      if (s.active && holder != client_of.end() && holder->second.request_at != 0)
        request = net::clock::time_point(net::clock::duration(holder->second.request_at));
      if (request == net::clock::time_point{}) request = s.created;
      r.text(now.text(s.created)).text(now.text(request));
      r.number(0).number(0).number(s.close_needed ? 1 : 0).text(log::to_string(s.id));
      r.text(holder == client_of.end() ? std::string() : fmt::format("c{}", holder->second.client));
      r.number(s.backend_pid).text(s.tls).text(s.application_name);
      if (sockets) buffer_columns(r);
      r.number(s.prepared_statements).number(s.id.n);
    }
  }
}

// PgBouncer's SHOW FDS lists its sockets with each login's state (user, cancel key, encodings,
// SCRAM keys), and over a Unix socket to its own OS user passes the descriptors themselves: that is
// how a new PgBouncer started with -R takes over (online restart). pgfunnel has no takeover, and a
// list of cancel keys would serve nothing else: PgBouncer's columns, no rows (admin_users only, as
// in PgBouncer).
result_set console::show_fds() const { return result_set(fds_columns()); }

// PgBouncer resolves host names itself and caches them per TTL (and per zone, with
// dns_zone_check_period); these list that cache. pgfunnel asks the system resolver at each server
// connect and caches nothing, so there is nothing to list (SHOW LISTS' dns_* rows say 0 too). A
// fresh lookup here would cost a DNS round trip on the console's thread and could fill neither
// ttl nor serial.
result_set console::show_dns_hosts() const { return result_set(dns_hosts_columns()); }
result_set console::show_dns_zones() const { return result_set(dns_zones_columns()); }

result_set console::show_databases() const {
  const auto settings = context_.settings();
  struct db {
    unsigned connections = 0;
    bool paused = true;
  };
  std::map<std::string, db> dbs;
  for (const auto& p : context_.pools.all()) {
    const auto c = p->counts();
    auto& d = dbs[p->database()];
    d.connections += c.idle + c.active + c.connecting;
    d.paused = d.paused && p->paused();
  }
  result_set r(databases_columns());
  r.row().text("pgbouncer").null().number(local_of(self_.fd).port).text("pgbouncer").text("pgbouncer");
  r.number(2).number(0).number(0).text("statement").number(0).number(0).number(0).number(0);
  const auto& up = settings->upstream;
  std::string host = up.host;
  if (auto it = up.params.find("host"); it != up.params.end()) host = it->second;
  for (const auto& [name, d] : dbs) {
    r.row().text(name).text(host).number(static_cast<std::int32_t>(up.port)).text(name).null();
    r.number(settings->pool_size).number(settings->min_pool_size).number(0).text("transaction");
    r.number(0).number(d.connections).number(d.paused ? 1 : 0).number(0);
  }
  return r;
}

result_set console::show_users() const {
  const auto settings = context_.settings();
  std::set<std::string> names{"pgbouncer"};
  for (const auto& u : settings->users) names.insert(u.name);
  if (!settings->upstream.user.empty()) names.insert(settings->upstream.user);
  for (const auto& n : settings->admin_users) names.insert(n);
  for (const auto& n : settings->stats_users) names.insert(n);
  for (const auto& p : context_.pools.all()) names.insert(p->user());
  result_set r(users_columns());
  for (const auto& n : names) r.row().text(n).null();
  return r;
}

result_set console::show_config() const {
  const auto settings = context_.settings();
  result_set r(config_columns());
  for (const auto& k : config::keys())
    r.row().text(k.path).text(k.show(*settings, true)).text(k.default_text).text(k.reloadable ? "yes" : "no");
  return r;
}

result_set console::show_lists() const {
  const auto pools = context_.pools.all();
  std::set<std::string> databases{"pgbouncer"}, users;
  unsigned servers = 0;
  for (const auto& p : pools) {
    databases.insert(p->database());
    users.insert(p->user());
    const auto c = p->counts();
    servers += c.idle + c.active + c.connecting;
  }
  const auto registered = static_cast<unsigned>(context_.clients.size());
  const unsigned counted = context_.pooled_clients.load();
  result_set r(lists_columns());
  r.row().text("databases").number(static_cast<std::uint32_t>(databases.size()));
  r.row().text("users").number(static_cast<std::uint32_t>(users.size()));
  r.row().text("pools").number(static_cast<std::uint32_t>(pools.size()));
  r.row().text("free_clients").number(0);
  r.row().text("used_clients").number(registered);
  r.row().text("login_clients").number(counted > registered ? counted - registered : 0u);
  r.row().text("free_servers").number(0);
  r.row().text("used_servers").number(servers);
  for (const char* dns : {"dns_names", "dns_zones", "dns_queries", "dns_pending"}) r.row().text(dns).number(0);
  return r;
}

result_set console::show_state() const {
  const auto pools = context_.pools.all();
  const bool paused = !pools.empty() && std::ranges::all_of(pools, [](const auto& p) { return p->paused(); });
  result_set r(state_columns());
  r.row().text(paused ? "no" : "yes").text(paused ? "yes" : "no").text("no");
  return r;
}

result_set console::show_mem() const {
  const auto pools = context_.pools.all();
  unsigned servers = 0;
  for (const auto& p : pools) {
    const auto c = p->counts();
    servers += c.idle + c.active;
  }
  const auto clients = static_cast<std::uint32_t>(context_.clients.size());
  result_set r(mem_columns());
  // Our objects instead of PgBouncer's slab caches: one per client session, server connection
  // and pool, each allocated on its own (so nothing is free in a cache).
  auto add = [&](std::string_view name, std::size_t size, std::uint32_t used) {
    r.row().text(name).number(static_cast<std::uint32_t>(size)).number(used).number(0);
    r.number(static_cast<std::uint64_t>(size) * used);
  };
  add("client_sessions", sizeof(proxy::pooled_session), clients);
  add("server_connections", sizeof(pool::server_connection), servers);
  add("pools", sizeof(pool::pool), static_cast<std::uint32_t>(pools.size()));
  return r;
}

}  // namespace

net::awaitable<void> run_console(net::stream& client, proxy::proxy_context& context, client_entry& self,
                                 log::conn_id id) {
  const access level = access_for(*context.settings(), *self.user);
  if (level == access::none) {
    log::warn(id, "admin console refused to {}: not in admin_users or stats_users", *self.user);
    co_await proxy::send_error(client, {"FATAL", "28000", "not allowed", "",
                                        "Only admin_users and stats_users may use the pgfunnel admin console."});
    co_return;
  }
  context.clients.add(self);
  console c(client, context, self, level, id);
  co_await c.run();
}

}  // namespace pgfunnel::admin
