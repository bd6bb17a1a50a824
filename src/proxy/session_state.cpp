// What a pooled client's SQL does to session state: SETs that follow it,
// advisory locks that pin its server, features it cannot have.
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {

// Session-level advisory locks this backend holds (transaction-level ones end
// with the transaction, and this runs between transactions).
constexpr std::string_view count_advisory_locks =
    "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND "
    "pid = pg_catalog.pg_backend_pid()";

// Runs `sql` on a server between clients. `first_value` gets the first column
// of the first row; `error` the server's error message. False when the
// connection failed (it cannot be reused).
asio::awaitable<bool> internal_query(pool::server_connection &server, std::string_view sql, std::uint32_t max_message,
                                     std::string &first_value, std::string &error) {
  std::string query;
  protocol::encode_query(query, sql);
  if (co_await net::write_all(server.socket, query)) co_return false;
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, max_message);
  std::string buffer;
  bool have_row = false;
  for (;;) {
    protocol::frame msg;
    if (co_await net::read_message(server.socket, reader, buffer, msg)) co_return false;
    if (msg.tag == 'D' && !have_row) {
      // DataRow: int16 column count, then int32 length + bytes per column.
      const auto &b = msg.body;
      if (b.size() >= 6) {
        const std::int32_t len = static_cast<std::int32_t>((std::uint32_t(b[2]) << 24) | (std::uint32_t(b[3]) << 16) |
                                                           (std::uint32_t(b[4]) << 8) | std::uint32_t(b[5]));
        if (len >= 0 && static_cast<std::size_t>(len) <= b.size() - 6)
          first_value.assign(reinterpret_cast<const char *>(b.data()) + 6, static_cast<std::size_t>(len));
      }
      have_row = true;
    } else if (msg.tag == 'E') {
      protocol::error_fields fields;
      protocol::decode_error_response(msg.body, fields);
      error = fmt::format("{} (SQLSTATE {})", fields.message, fields.code);
    } else if (msg.tag == 'S') {
      protocol::parameter_status ps;
      if (!protocol::decode_parameter_status(msg.body, ps)) server.params.set(ps.name, ps.value);
    } else if (msg.tag == 'Z') {
      protocol::transaction_status status;
      // Anything but idle means the query left state behind: not a server to
      // reuse.
      co_return !protocol::decode_ready_for_query(msg.body, status) && status == protocol::transaction_status::idle;
    }
  }
}

}  // namespace

void pooled_session::note_client_sql(std::uint8_t tag, protocol::byte_span body) {
  session::session_sql sql;
  if (tag == 'P') {
    protocol::parse_message p;
    if (protocol::decode_parse(body, p)) return;
    sql = session::scan_session_features(p.query);
  } else {
    std::string_view text;
    if (protocol::decode_query(body, text)) return;
    sql = session::classify_session_sql(text, &session::is_tracked_parameter);
  }
  if (sql.advisory_lock || (sql.advisory_unlock && pinned_)) advisory_check_due_ = true;
  if (!sql.unsupported.empty()) warn_unsupported(sql.unsupported);
  if (sql.kind != session::session_sql::other) {
    // Followed only when alone and outside a transaction: then the next
    // ReadyForQuery is its own, and its success is the session's new state.
    if (tracker_.owed_ready_for_query() == 0 && tracker_.status() == protocol::transaction_status::idle &&
        !pending_setting_) {
      pending_setting_ = std::move(sql);
      pending_setting_failed_ = false;
    } else {
      log::debug(log::conn_ids{id_, server_->id},
                 "SET inside a transaction or a pipeline is not carried to the "
                 "client's next server: {}",
                 sql.statement);
    }
  }
}

void pooled_session::warn_unsupported(std::string_view feature) {
  for (auto f : warned_features_)
    if (f == feature) return;
  warned_features_.push_back(feature);
  log::warn(log::conn_ids{id_, server_->id},
            "client (application_name '{}') uses {}, which transaction pooling "
            "cannot keep across transactions; "
            "use the direct listener (DIRECT_DATABASE_URL) for it",
            params_.find("application_name") != nullptr ? *params_.find("application_name") : std::string(), feature);
}

void pooled_session::set_pinned(bool pinned) {
  if (pinned == pinned_) return;
  pinned_ = pinned;
  if (pinned) {
    ++pool_->statements().pinned;
    log::info(log::conn_ids{id_, server_->id},
              "server pinned to client: it holds session-level advisory locks "
              "(until they are released or the client leaves)");
  } else {
    --pool_->statements().pinned;
    log::info(log::conn_ids{id_, server_->id}, "server unpinned: no advisory locks left");
  }
}

asio::awaitable<void> pooled_session::check_advisory_pin() {
  advisory_check_due_ = false;
  std::string count, error;
  if (!co_await internal_query(*server_, count_advisory_locks, context_.settings->max_message_size, count, error) ||
      !error.empty()) {
    log::warn(log::conn_ids{id_, server_->id}, "advisory lock check failed ({}): server closed", error);
    server_broken_ = true;
    co_return;
  }
  set_pinned(count != "0" && !count.empty());
}

asio::awaitable<void> pooled_session::unlock_advisory_locks() {
  advisory_check_due_ = false;
  std::string ignored, error;
  if (!co_await internal_query(*server_, "SELECT pg_catalog.pg_advisory_unlock_all()",
                               context_.settings->max_message_size, ignored, error) ||
      !error.empty()) {
    server_broken_ = true;
  } else {
    log::debug(log::conn_ids{id_, server_->id}, "client left holding advisory locks: released them");
  }
  set_pinned(false);
}

void pooled_session::end_lease_statements() {
  if (!rewriter_) return;
  const auto &c = rewriter_->counters();
  auto &stats = pool_->statements();
  if (c.hits) stats.hits += c.hits;
  if (c.misses) stats.misses += c.misses;
  if (c.injected) stats.injected += c.injected;
  if (c.evictions) stats.evictions += c.evictions;
  if (rewriter_->uncertain() || !rewriter_->idle()) {
    log::info(log::conn_ids{id_, server_->id},
              "prepared-statement replies did not follow the expected order: "
              "server closed instead of reused");
    server_dirty_ = true;
  }
  rewriter_.reset();
}

}  // namespace pgfunnel::proxy
