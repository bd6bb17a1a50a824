// Session objects of a pooled client on its server: pin while it holds any, remove them before the server is reused.
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/pool/internal_query.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;

// The kinds that pin: advisory locks always (Prisma Migrate needs them), the others unless
// pin_session_objects is off.
session::session_objects pooled_session::pinning_kinds() const {
  return context_.settings()->pin_session_objects ? session::all_session_objects : session::object_advisory_lock;
}

void pooled_session::note_session_objects(std::string_view sql) {
  const auto s = session::scan_session_objects(sql);
  if (s.creates == 0 && !(s.releases && pinned_)) return;
  touched_objects_ |= s.creates;
  const session::session_objects pinning = pinning_kinds();
  if ((s.creates & pinning) != 0 || (s.releases && pinned_)) pin_check_due_ = true;
  // pin_session_objects off: logged once per kind, as before pinning existed.
  const session::session_objects logged = s.creates & ~pinning & ~warned_objects_;
  if (logged == 0) return;
  warned_objects_ |= logged;
  const std::string what = session::describe_session_objects(logged);
  log::warn(log::conn_ids{id_, server_->id},
            "client (application_name '{}') uses {}, which is not kept across transactions "
            "(pin_session_objects is off); use the direct listener (DIRECT_DATABASE_URL) for it",
            entry_.application_name, what);
}

void pooled_session::set_pinned(session::session_objects held) {
  auto& stats = pool_->statements();
  const bool by_objects = (held & ~session::object_advisory_lock) != 0;
  const bool was_by_objects = (held_objects_ & ~session::object_advisory_lock) != 0;
  if (by_objects && !was_by_objects) ++stats.pinned_objects;
  if (!by_objects && was_by_objects) --stats.pinned_objects;
  const session::session_objects before = held_objects_;
  held_objects_ = held;
  const bool pinned = held != 0;
  if (pinned == pinned_ && held == before) return;
  if (pinned && !pinned_) ++stats.pinned;
  if (!pinned && pinned_) --stats.pinned;
  pinned_ = pinned;
  if (pinned) {
    const std::string what = session::describe_session_objects(held);
    log::info(log::conn_ids{id_, server_->id},
              "server pinned to client: it holds {} (until they are gone or the client leaves; {})", what, where());
  } else {
    log::info(log::conn_ids{id_, server_->id}, "server unpinned: no advisory locks or session objects left");
  }
}

// Between transactions: which objects the server holds for this client decides the pin.
asio::awaitable<void> pooled_session::check_pin() {
  pin_check_due_ = false;
  const session::session_objects kinds = (touched_objects_ | held_objects_) & pinning_kinds();
  if (kinds == 0) {
    set_pinned(0);
    co_return;
  }
  const std::string sql = session::session_objects_query(kinds);
  std::string value, error;
  if (!co_await pool::internal_query(*server_, sql, context_.settings()->max_message_size, value, error) ||
      !error.empty()) {
    log::warn(log::conn_ids{id_, server_->id}, "session object check failed ({}): server closed", error);
    server_broken_ = true;
    co_return;
  }
  set_pinned(session::parse_session_objects(value) & kinds);
}

// The client left: what it created on this server goes before anyone else gets it. Every kind it
// ever created is looked for, pinning or not.
asio::awaitable<void> pooled_session::remove_session_objects() {
  pin_check_due_ = false;
  const session::session_objects kinds = touched_objects_ | held_objects_;
  const std::uint32_t max_message = context_.settings()->max_message_size;
  std::string value, error;
  const std::string check = session::session_objects_query(kinds);
  if (kinds != 0 &&
      (!co_await pool::internal_query(*server_, check, max_message, value, error) || !error.empty())) {
    server_broken_ = true;
  } else if (const session::session_objects held = session::parse_session_objects(value) & kinds; held != 0) {
    const std::string reset = session::session_objects_reset(held);
    value.clear();
    if (!co_await pool::internal_query(*server_, reset, max_message, value, error) || !error.empty()) {
      log::warn(log::conn_ids{id_, server_->id}, "removing session objects failed ({}): server closed", error);
      server_broken_ = true;
    } else {
      // DEALLOCATE ALL also dropped the protocol statements the server's cache lists.
      if (held & session::object_sql_prepare) server_->statements.clear();
      log::debug(log::conn_ids{id_, server_->id}, "client left holding {}: removed ({})",
                 session::describe_session_objects(held), reset);
    }
  }
  set_pinned(0);
}

// server_reset_query_always: PgBouncer's reset after every transaction, for those who set it.
asio::awaitable<void> pooled_session::run_server_reset_query() {
  const auto settings = context_.settings();
  if (!settings->server_reset_query_always || settings->server_reset_query.empty()) co_return;
  std::string value, error;
  if (!co_await pool::internal_query(*server_, settings->server_reset_query, settings->max_message_size, value,
                                     error) ||
      !error.empty()) {
    log::warn(log::conn_ids{id_, server_->id}, "server_reset_query failed ({}): server closed", error);
    server_broken_ = true;
    co_return;
  }
  // Whatever it dropped, the statement cache must not claim it: DISCARD ALL / DEALLOCATE ALL drop
  // them all; any other query may have, so they are unknown (a Close goes before a re-Parse).
  const auto what = session::classify_statement_sql(settings->server_reset_query);
  if (what.kind == session::statement_sql::discard_all || what.kind == session::statement_sql::deallocate_all)
    server_->statements.clear();
  else
    server_->statements.all_to_unknown();
  // DISCARD ALL also runs RESET ALL: no SET replayed on this server is in force any more.
  if (what.kind == session::statement_sql::discard_all) server_->settings.clear();
}

}  // namespace pgfunnel::proxy
