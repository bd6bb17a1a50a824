// What a pooled client's SQL does to session state: SETs that follow it (session
// objects that pin its server: session_objects.cpp).
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/pool/internal_query.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

void pooled_session::note_client_sql(std::uint8_t tag, protocol::byte_span body) {
  session::session_sql sql;
  if (tag == 'P') {
    protocol::parse_message p;
    if (protocol::decode_parse(body, p)) return;
    note_session_objects(p.query);
    note_extended_settings(p.query, !p.statement.empty());
    return;
  } else {
    std::string_view text;
    if (protocol::decode_query(body, text)) return;
    note_session_objects(text);
    sql = session::classify_session_sql(text, &session::is_tracked_parameter,
                                        lease_->settings.wants_transaction_control());
  }
  // Every statement's SETs wait in the journal for their transaction's end; the
  // server owes ReadyForQuery for what was sent before this Query first.
  if (tag == 'Q') lease_->settings.on_query(std::move(sql), lease_->tracker.owed_ready_for_query());
}

// RESET, SET … TO DEFAULT and RESET ALL go back to the client's startup values in PostgreSQL; this
// server's are its own login's. The Query is rewritten so that a later statement of the same request
// or transaction sees the client's value (apply_committed_settings keeps the record right after it).
bool pooled_session::rewrite_startup_resets(protocol::byte_span body, std::uint32_t owed_before,
                                            std::string &to_server) {
  // Behind an extended-protocol batch with no Sync yet, that batch's replies come first, without a
  // ReadyForQuery to tell them from the Query's: replies could not be matched to statements.
  if (startup_.empty() || lease_->tracker.unsynced()) return false;
  std::string_view text;
  if (protocol::decode_query(body, text)) return false;
  const bool in_block = owed_before == 0 && lease_->tracker.status() != protocol::transaction_status::idle;
  std::string rewritten;
  if (!lease_->resets.on_query(text, startup_, pool_->defaults(), in_block, owed_before, rewritten)) return false;
  log::trace(log::conn_ids{id_, server_->id}, "RESET to startup values: {}", rewritten);
  protocol::encode_query(to_server, rewritten);
  return true;
}

// A SET prepared through the extended protocol: when and how often it runs is the portal's business,
// so it is not followed. Its server is not reused after this lease, nor after any later one where a
// statement of this client's that is not a simple Query completes as SET, RESET or DISCARD ALL while
// such a statement may still exist: a named one for good, the unnamed one until the next unnamed
// Parse replaces it (either may run again on whatever server the client has then).
void pooled_session::note_extended_settings(std::string_view query, bool named) {
  bool changes = false;
  if (session::may_change_settings(query)) {
    const auto sql = session::classify_session_sql(query, &session::is_tracked_parameter, false);
    for (const auto &c : sql.changes) changes = changes || !c.tracked;
  }
  if (!named) unnamed_sets_ = changes;
  if (!changes) return;  // SET LOCAL, a reported parameter, set_config(…, true), anything else
  if (!sets_warned_)
    log::warn(log::conn_ids{id_, server_->id},
              "client prepares a session SET through the extended protocol ({}): it is not carried to the client's "
              "next server, and servers it ran on are closed instead of reused ({})",
              query.substr(0, 80), where());
  sets_warned_ = true;
  if (named) named_sets_ = true;
  server_dirty_ = true;
}

// A transaction ended (or a request's implicit one): what it committed follows
// the client now, and this server has it.
void pooled_session::apply_committed_settings() {
  auto &committed = lease_->settings.committed();
  for (const auto &c : committed) {
    settings_.apply(c);
    server_->settings.apply(c);
    // RESET goes back to the session's startup value in PostgreSQL; the server's is its own
    // login's. The client keeps its startup value, and the server is marked as differing, so
    // the next lease's parameter sync sets it (on this server or another).
    auto restore = [&](const std::string &name, const std::string &value) {
      params_.set(name, value);
      if (session::is_tracked_parameter(name)) return;  // ParameterStatus told the server's value
      server_->params.erase(name);
    };
    if (c.kind == session::setting_change::reset) {
      if (const std::string *v = startup_.find(c.name)) restore(c.name, *v);
    } else if (c.kind == session::setting_change::reset_all || c.kind == session::setting_change::discard_all) {
      for (const auto &[name, value] : startup_) restore(name, value);
    }
  }
  committed.clear();
  if (lease_->resets.uncertain() && !server_dirty_) {
    log::warn(log::conn_ids{id_, server_->id},
              "replies to a RESET rewritten to the client's startup value did not match it: server closed instead of "
              "reused ({})",
              where());
    server_dirty_ = true;
  }
  if (lease_->settings.uncertain() && !server_dirty_) {
    log::warn(log::conn_ids{id_, server_->id},
              "client changed session state pgfunnel cannot follow (a SET it cannot replay, set_config() with "
              "computed arguments, or savepoints of the extended protocol): server closed instead of reused ({})",
              where());
    server_dirty_ = true;
  }
}

void pooled_session::end_lease_statements() {
  if (!lease_->rewriter) return;
  const auto &c = lease_->rewriter->counters();
  auto &stats = pool_->statements();
  if (c.hits) stats.hits += c.hits;
  if (c.misses) stats.misses += c.misses;
  if (c.injected) stats.injected += c.injected;
  if (c.evictions) stats.evictions += c.evictions;
  if (lease_->rewriter->uncertain() || !lease_->rewriter->idle()) {
    log::info(log::conn_ids{id_, server_->id},
              "prepared-statement replies did not follow the expected order: "
              "server closed instead of reused");
    server_dirty_ = true;
  }
  lease_->rewriter.reset();
}

// query_wait_notify: a client still waiting for a server after that long is told so, once. Only
// started when the pool had no idle server (most leases never wait).
void pooled_session::start_wait_notice() {
  const auto after = context_.settings()->query_wait_notify;
  if (after.count() == 0) return;
  if (!wait_notice_timer_) wait_notice_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
  wait_notice_timer_->expires_after(after);
  wait_notice_timer_->async_wait([weak = weak_from_this(), after](const error_code &ec) {
    auto self = weak.lock();
    if (ec || !self || self->entry_.state.load(std::memory_order_relaxed) != client_state::waiting) return;
    const auto s = self->pool_->settings();
    const auto c = self->pool_->counts();
    const std::string message =
        fmt::format("pgfunnel: waiting {} s for a free server (pool_size {}, {} clients waiting)",
                    std::chrono::duration_cast<std::chrono::seconds>(after).count(), s.limits.pool_size, c.waiting);
    const std::string detail = fmt::format("pool {}; client {}", self->pool_->name(), log::to_string(self->id_));
    auto notice = std::make_shared<std::string>();
    protocol::encode_notice_response(*notice, {"NOTICE", "00000", message, detail});
    log::info(self->id_, "query_wait_notify: waiting {} ms for a server in pool {}", after.count(),
              self->pool_->name());
    asio::co_spawn(
        self->client_.get_executor(),
        [self, notice]() -> asio::awaitable<void> { co_await self->write_client(*notice); }, asio::detached);
  });
}

// query_timeout: a watchdog per lease, only when the setting is on; it polls the request clock
// (busy_since_) and stops when the lease ends.
void pooled_session::start_query_watchdog() {
  const auto limit = context_.settings()->query_timeout;
  if (limit.count() == 0) return;
  const std::uint64_t lease = lease_number_;
  asio::co_spawn(
      client_.get_executor(),
      [self = shared_from_this(), lease, limit]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        const auto step = std::clamp<std::chrono::milliseconds>(limit / 4, std::chrono::milliseconds(10),
                                                                std::chrono::milliseconds(1000));
        while (self->lease_number_ == lease && self->server_ != nullptr && !self->client_gone_ &&
               !self->server_broken_) {
          if (self->busy_since_ && self->cancelled_at_ != self->busy_since_ &&
              net::clock::now() - *self->busy_since_ >= limit) {
            self->cancelled_at_ = self->busy_since_;
            co_await self->query_timed_out();
          }
          timer.expires_after(step);
          co_await timer.async_wait(net::use_nothrow);
        }
      },
      asio::detached);
}

asio::awaitable<void> pooled_session::query_timed_out() {
  const auto limit = context_.settings()->query_timeout;
  const auto endpoint = server_->peer;
  const auto key = server_->key;
  log::warn(log::conn_ids{id_, server_->id}, "query_timeout: a request ran longer than {} ms, cancelling it",
            limit.count());
  // A NOTICE says why the cancel comes, when the client's stream is between messages.
  if (lease_ && lease_->server_scan.at_boundary()) {
    const std::string message =
        fmt::format("pgfunnel query_timeout ({} ms): cancelling the running query", limit.count());
    const std::string detail = fmt::format("client {}", log::to_string(id_));
    std::string notice;
    protocol::encode_notice_response(notice, {"WARNING", "57014", message, detail});
    co_await write_client(notice);
  }
  ++cancel_->in_flight;
  co_await send_cancel(endpoint, key, std::chrono::seconds(5));
  --cancel_->in_flight;
}

}  // namespace pgfunnel::proxy
