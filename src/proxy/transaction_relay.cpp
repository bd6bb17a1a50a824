// The leased phase of a pooled client: both directions relayed in place, named
// statements rewritten, until the transaction ends.
#include <cstring>

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {
// How long a server may take to settle after its client vanished before it is
// closed instead.
constexpr auto cleanup_deadline = std::chrono::seconds(5);

// Client messages the rewriter and the session-state notes read: held until
// whole.
bool held_from_client(std::uint8_t tag) noexcept {
  return tag == 'P' || tag == 'B' || tag == 'D' || tag == 'C' || tag == 'Q';
}
// Server messages streamed as they come (rows and copy data can be huge and are
// never rewritten); every other one is held until whole, so the rewriter can
// swallow it or add replies after it.
bool streamed_from_server(std::uint8_t tag) noexcept { return tag == 'D' || tag == 'd'; }

// The tracker counts what the server is really sent: the tags of the rewriter's
// messages.
void track_sent(session::transaction_tracker &tracker, std::string_view bytes) {
  for (std::size_t pos = 0; pos + protocol::tagged_header_size <= bytes.size();) {
    tracker.on_client_message(static_cast<std::uint8_t>(bytes[pos]));
    std::uint32_t length = 0;
    for (int i = 1; i <= 4; ++i) length = (length << 8) | static_cast<std::uint8_t>(bytes[pos + i]);
    pos += 1 + length;
  }
}

void keep_tail(std::uint8_t *data, std::size_t forward, std::size_t keep) {
  if (keep > 0 && forward > 0) std::memmove(data, data + forward, keep);
}

std::uint32_t message_size(const std::uint8_t *header) {
  std::uint32_t length = 0;
  for (int i = 1; i <= 4; ++i) length = (length << 8) | header[i];
  return 1 + length;
}
}  // namespace

void pooled_session::relay_client_message(std::uint8_t tag, protocol::byte_span body, std::size_t begin,
                                          std::size_t end, session::spliced_output &out) {
  const std::uint32_t owed_before = lease_->tracker.owed_ready_for_query();
  if (tag == 'Q' || tag == 'P') note_client_sql(tag, body);
  lease_->to_server.clear();
  const auto verdict = lease_->rewriter->on_client_message(tag, body, lease_->to_server, lease_->synthetic);
  if (tag == 'Q' && verdict == session::client_verdict::forward &&
      rewrite_startup_resets(body, owed_before, lease_->to_server)) {
    track_sent(lease_->tracker, lease_->to_server);  // the rewritten Query included
    out.edit(begin, end, lease_->to_server, false, {});
    return;
  }
  if (verdict == session::client_verdict::forward && lease_->to_server.empty()) {
    lease_->tracker.on_client_message(tag);
    return;
  }
  track_sent(lease_->tracker, lease_->to_server);
  if (verdict == session::client_verdict::forward) lease_->tracker.on_client_message(tag);
  out.edit(begin, end, lease_->to_server, verdict == session::client_verdict::forward, {});
}

bool pooled_session::relay_server_message(std::uint8_t tag, protocol::byte_span body, bool complete, std::size_t begin,
                                          std::size_t end, session::spliced_output &out) {
  lease_->tracker.on_server_message(tag);
  // Replies to a RESET rewritten to the client's startup value (see startup_resets.hpp).
  using fix_t = session::startup_resets::reply;
  fix_t fix = fix_t::forward;
  if (!lease_->resets.idle() && complete && (tag == 'T' || tag == 'C' || tag == 'E' || tag == 'Z')) {
    std::string_view command;
    if (tag == 'C') {
      const std::string_view text(reinterpret_cast<const char *>(body.data()), body.size());
      command = text.substr(0, text.find('\0'));
    }
    fix = lease_->resets.on_server_message(tag, command);
  }
  if (tag == 'Z') {
    protocol::transaction_status status;
    if (!complete || protocol::decode_ready_for_query(body, status)) return false;
    lease_->tracker.on_ready_for_query(status);
    if (status != protocol::transaction_status::idle && lease_->tracker.owed_ready_for_query() == 0)
      idle_in_transaction_since_ = net::clock::now();
    else
      idle_in_transaction_since_.reset();
    auto& stats = pool_->stats();
    ++stats.query_count;
    // A ReadyForQuery that says idle ends a transaction (an explicit one, or a request's implicit
    // one); a lease may carry several when the client pipelines its next BEGIN.
    if (status == protocol::transaction_status::idle) {
      ++stats.xact_count;
      ++transactions_;
    }
    if (lease_->tracker.owed_ready_for_query() == 0 && busy_since_) {
      stats.query_time_us += static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(net::clock::now() - *busy_since_).count());
      busy_since_.reset();
    }
    lease_->settings.on_ready_for_query(status);
    apply_committed_settings();
  } else if (tag == 'C' && complete) {
    // CommandComplete: one statement done (its tag says which transaction end it was).
    const auto *p = reinterpret_cast<const char *>(body.data());
    const std::string_view text(p, body.size());
    const std::string_view command =
        fix == fix_t::rename ? lease_->resets.renamed_tag() : text.substr(0, text.find('\0'));
    if (fix != fix_t::drop && !lease_->settings.on_statement_done(command) && (named_sets_ || unnamed_sets_) &&
        (command == "SET" || command == "RESET" || command == "DISCARD ALL"))
      server_dirty_ = true;  // a prepared SET of this client's ran here (see note_extended_settings)
  } else if (tag == 'I') {
    lease_->settings.on_statement_done({});  // EmptyQueryResponse
  } else if (tag == 'E') {
    lease_->settings.on_error();
  } else if (tag == 'S' && complete) {
    protocol::parameter_status ps;
    if (!protocol::decode_parameter_status(body, ps)) {
      server_->params.set(ps.name, ps.value);
      // The client now believes this value; it follows the client to its next
      // server.
      if (session::is_tracked_parameter(ps.name)) params_.set(ps.name, ps.value);
    }
  }
  lease_->after.clear();
  const bool forward = lease_->rewriter->on_server_message(tag, complete ? body : protocol::byte_span{}, lease_->after);
  if (fix != fix_t::forward) {
    // Dropped, or a CommandComplete with the client's own tag in its place.
    std::string renamed;
    if (fix == fix_t::rename && forward) protocol::message_builder(renamed, 'C').cstring(lease_->resets.renamed_tag());
    out.edit(begin, end, renamed, false, lease_->after);
    return true;
  }
  if (forward && lease_->after.empty()) return true;
  // Only whole messages are ever swallowed or followed by replies (rows and
  // copy data never are).
  if (!complete) return false;
  out.edit(begin, end, {}, forward, lease_->after);
  return true;
}

asio::awaitable<error_code> pooled_session::read_whole_message(net::stream &socket, const std::uint8_t *have,
                                                               std::size_t have_size, std::string &whole) {
  const std::uint32_t size = message_size(have);
  whole.assign(reinterpret_cast<const char *>(have), have_size);
  // As it arrives: memory follows what the peer sent, not the length it announced.
  co_return co_await net::read_until_size(socket, whole, size);
}

asio::awaitable<error_code> pooled_session::write_client(std::string_view bytes) {
  if (client_writing_) {
    client_backlog_.append(bytes);
    co_return error_code{};
  }
  client_writing_ = true;
  error_code ec = co_await client_.write_all(bytes);
  while (!ec && !client_backlog_.empty()) {
    std::string queued;
    queued.swap(client_backlog_);
    ec = co_await client_.write_all(queued);
  }
  client_backlog_.clear();
  client_writing_ = false;
  co_return ec;
}

asio::awaitable<void> pooled_session::client_to_server() {
  session::spliced_output out(lease_->in_scratch);
  for (;;) {
    if (lease_->in_have > 0) {
      const std::uint8_t *base = in_.data();
      bool terminated = false;
      bool oversized = false;
      struct visitor_t {
        pooled_session &s;
        const std::uint8_t *base;
        session::spliced_output &out;
        bool &terminated;
        bool &oversized;
        bool wants_whole(std::uint8_t tag) const noexcept { return held_from_client(tag); }
        bool on_message(const session::scanned_message &m) {
          if (m.tag == 'X') {
            terminated = true;
            return false;
          }
          if (!m.complete) {
            if (held_from_client(m.tag)) {
              oversized = true;  // larger than the relay buffer: read whole below
              return false;
            }
            // Streamed (CopyData, a large Execute...): the rewriter needs only
            // its tag.
            std::string ignored;
            s.lease_->rewriter->on_client_message(m.tag, {}, ignored, s.lease_->synthetic);
            s.lease_->tracker.on_client_message(m.tag);
            return true;
          }
          const std::size_t begin = static_cast<std::size_t>(m.body.data() - base) - protocol::tagged_header_size;
          s.relay_client_message(m.tag, m.body, begin, begin + 1 + m.length, out);
          return true;
        }
      } visitor{*this, base, out, terminated, oversized};
      out.start(protocol::byte_span(base, lease_->in_have));
      auto r = lease_->client_scan.scan(protocol::byte_span(base, lease_->in_have), visitor);
      if (r.ec) {
        log::warn(log::conn_ids{id_, server_->id}, "invalid message from client: {} ({})", r.ec.message(), where());
        std::string err;
        protocol::encode_error_response(
            err, {"FATAL", "08P01", fmt::format("invalid frontend message: {}", r.ec.message())});
        co_await write_client(err);
        lease_->in_have = 0;
        end(close_reason::protocol_error);
        client_gone_ = true;
        break;
      }
      const std::string_view to_server = out.finish(r.forward);
      // Replies due now go first: nothing sent in this scan before them asks
      // for a reply, and the server's answers to what follows must reach the
      // client after them.
      if (!lease_->synthetic.empty()) {
        std::string due;
        due.swap(lease_->synthetic);
        if (co_await write_client(due)) {
          client_gone_ = true;
          client_write_failed_ = true;
          break;
        }
      }
      if (!to_server.empty()) {
        // The server is busy from the first request that wants an answer until the last answer.
        if (!busy_since_ && lease_->tracker.owed_ready_for_query() > 0) busy_since_ = net::clock::now();
        if (co_await net::write_all(server_->stream, to_server)) {
          server_broken_ = true;
          break;
        }
      }
      if (terminated) {
        lease_->in_have = 0;
        end(close_reason::client_terminate);
        client_gone_ = true;
        break;
      }
      if (oversized) {
        // A Parse/Bind/... larger than the relay buffer: read it whole, then
        // relay it like any other.
        if (co_await read_whole_message(client_, base + r.forward, lease_->in_have - r.forward, lease_->big_in)) {
          lease_->in_have = 0;
          client_gone_ = true;
          break;
        }
        const auto *whole = reinterpret_cast<const std::uint8_t *>(lease_->big_in.data());
        out.start(protocol::byte_span(whole, lease_->big_in.size()));
        relay_client_message(whole[0],
                             protocol::byte_span(whole + protocol::tagged_header_size,
                                                 lease_->big_in.size() - protocol::tagged_header_size),
                             0, lease_->big_in.size(), out);
        const std::string_view whole_out = out.finish(lease_->big_in.size());
        if (!lease_->synthetic.empty()) {
          std::string due;
          due.swap(lease_->synthetic);
          if (co_await write_client(due)) {
            client_gone_ = true;
            client_write_failed_ = true;
            break;
          }
        }
        if (!whole_out.empty() && co_await net::write_all(server_->stream, whole_out)) {
          server_broken_ = true;
          break;
        }
        lease_->drop_if_grown(lease_->big_in);
        lease_->in_have = 0;
      } else {
        keep_tail(in_.data(), r.forward, r.keep);
        lease_->in_have = r.keep;
      }
      lease_->drop_if_grown(lease_->in_scratch);  // its bytes are sent
      // The server may have answered while this half was writing: release from
      // here then.
      if (!releasing_ && !server_broken_ && lease_->in_have == 0 && lease_->out_have == 0 && !client_writing_ &&
          lease_->tracker.releasable() && lease_->client_scan.at_boundary() && lease_->server_scan.at_boundary()) {
        releasing_ = true;
        server_->stream.cancel();  // the other half waits for server input: stop it
        co_return;
      }
    }
    if (releasing_ || server_broken_) co_return;
    error_code wec;
    const auto idle_limit = context_.settings()->idle_transaction_timeout;
    if (idle_limit.count() > 0) {
      // idle_transaction_timeout: the wait races a timer. The server's ReadyForQuery (the other
      // half) says when the client started to sit in a transaction; the timer re-arms until then.
      using namespace asio::experimental::awaitable_operators;
      if (!idle_timer_) idle_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
      bool timed_out = false;
      for (;;) {
        const bool idle_in_transaction = lease_->tracker.status() != protocol::transaction_status::idle &&
                                         lease_->tracker.owed_ready_for_query() == 0 && idle_in_transaction_since_;
        if (idle_in_transaction && net::clock::now() - *idle_in_transaction_since_ >= idle_limit) {
          timed_out = true;
          break;
        }
        idle_timer_->expires_after(idle_in_transaction ? *idle_in_transaction_since_ + idle_limit - net::clock::now()
                                                       : net::clock::duration(idle_limit));
        auto woke = co_await (client_.wait_readable() ||
                              idle_timer_->async_wait(net::use_nothrow));
        if (woke.index() == 0) {
          wec = std::get<0>(woke);
          break;
        }
        if (releasing_ || server_broken_) co_return;
      }
      if (timed_out) {
        log::info(log::conn_ids{id_, server_->id},
                  "idle_transaction_timeout: idle in a transaction for {} ms, closing the client (rolled back)",
                  idle_limit.count());
        const std::string detail = fmt::format("pgfunnel idle_transaction_timeout is {} ms; client {}",
                                               idle_limit.count(), log::to_string(id_));
        std::string err;
        protocol::encode_error_response(
            err, {"FATAL", "25P03", "terminating connection due to idle-in-transaction timeout", detail});
        co_await write_client(err);
        end(close_reason::idle_transaction_timeout);
        client_gone_ = true;
        break;
      }
    } else {
      wec = co_await client_.wait_readable();
    }
    if (releasing_ || server_broken_) co_return;
    // KILL_CLIENT shuts the socket's read side, but Linux still delivers what was already on its
    // way: the flag, not the EOF, decides that nothing more is relayed.
    if (wec || entry_.killed.load(std::memory_order_relaxed)) {
      client_gone_ = true;
      break;
    }
    error_code ec;
    const std::size_t n =
        client_.read_now(asio::buffer(in_.data() + lease_->in_have, net::relay_buffer::capacity - lease_->in_have), ec);
    if (ec == asio::error::would_block) continue;
    if (ec || n == 0) {
      client_gone_ = true;
      break;
    }
    lease_->in_have += n;
    pool_->stats().bytes_received += n;
    bytes_in_ += n;
  }
  if (client_gone_ && !server_broken_) co_await clean_up_after_client();
}

// The client left while it held the server. Finish what it started so the
// server can go back clean: end a COPY, close an open extended-protocol batch,
// cancel a running query, ROLLBACK an open transaction; and close the server
// when that does not settle within cleanup_deadline. The rewriter sees every
// message sent, so its plan (and the server's statement cache) stays exact.
asio::awaitable<void> pooled_session::clean_up_after_client() {
  lease_->in_have = 0;
  lease_->synthetic.clear();
  if (!lease_->client_scan.at_boundary()) {
    // Half a message went to the server: nothing can complete it.
    server_broken_ = true;
    server_->stream.cancel();
    co_return;
  }
  std::string fix;
  auto note = [&](std::size_t from) {
    // Sent whatever the rewriter says: in a failed batch the server ignores it
    // just as the plan does.
    const std::string_view msg(fix.data() + from, fix.size() - from);
    std::string ignored;
    lease_->rewriter->on_client_message(
        static_cast<std::uint8_t>(msg[0]),
        protocol::byte_span(reinterpret_cast<const std::uint8_t *>(msg.data()) + protocol::tagged_header_size,
                            msg.size() - protocol::tagged_header_size),
        ignored, lease_->synthetic);
    lease_->tracker.on_client_message(static_cast<std::uint8_t>(msg[0]));
  };
  if (lease_->tracker.in_copy_in()) {
    const std::size_t at = fix.size();
    protocol::message_builder(fix, 'f').cstring("client disconnected");
    note(at);
  }
  if (lease_->tracker.unsynced()) {
    // A bare Sync would COMMIT the implicit transaction of a batch the client
    // never finished; PostgreSQL rolls such work back when its client leaves.
    // An Execute of a portal that cannot exist fails the batch first, so the
    // Sync ends it in a rollback.
    std::size_t at = fix.size();
    protocol::message_builder(fix, 'E').cstring("pgfunnel: client gone").i32(0);
    note(at);
    at = fix.size();
    protocol::encode_sync(fix);
    note(at);
  }
  lease_->synthetic.clear();
  if (!fix.empty() && co_await net::write_all(server_->stream, fix)) {
    server_broken_ = true;
    co_return;
  }
  if (lease_->tracker.owed_ready_for_query() > 0 || lease_->tracker.in_copy_out()) {
    // Its answer has nobody to go to: stop the work rather than wait for it.
    ++cancel_->in_flight;
    asio::co_spawn(
        client_.get_executor(),
        [target = cancel_, endpoint = server_->peer, key = server_->key]() -> asio::awaitable<void> {
          co_await send_cancel(endpoint, key, std::chrono::seconds(5));
          --target->in_flight;
        },
        asio::detached);
  }
  const auto deadline = net::clock::now() + cleanup_deadline;
  bool rollback_sent = false;
  while (!server_broken_) {
    if (lease_->tracker.releasable() && !lease_->tracker.uncertain()) {
      server_->stream.cancel();  // stop the other half's read: nothing more will come
      co_return;
    }
    if (lease_->tracker.drained() && !rollback_sent && lease_->tracker.status() != protocol::transaction_status::idle) {
      std::string rollback;
      protocol::encode_query(rollback, "ROLLBACK");
      std::string ignored;
      lease_->rewriter->on_client_message(
          'Q', protocol::byte_span(reinterpret_cast<const std::uint8_t *>(rollback.data()) + 5, rollback.size() - 5),
          ignored, lease_->synthetic);
      lease_->synthetic.clear();
      lease_->tracker.on_client_message('Q');
      rollback_sent = true;
      if (co_await net::write_all(server_->stream, rollback)) {
        server_broken_ = true;
        break;
      }
      continue;
    }
    if (net::clock::now() >= deadline || lease_->tracker.uncertain()) {
      log::info(log::conn_ids{id_, server_->id}, "server did not settle after its client left: closing it");
      server_broken_ = true;
      server_->stream.cancel();
      break;
    }
    // The other half pokes this timer after every server read.
    if (!cleanup_timer_) cleanup_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
    cleanup_timer_->expires_at(deadline);
    co_await cleanup_timer_->async_wait(net::use_nothrow);
  }
}

asio::awaitable<void> pooled_session::server_to_client() {
  session::spliced_output out(lease_->out_scratch);
  for (;;) {
    auto [ec, n] = co_await server_->stream.read_some(
        asio::buffer(out_.data() + lease_->out_have, net::relay_buffer::capacity - lease_->out_have));
    if (ec) {
      // A cancelled read is the other half saying "done" (cleanup finished, or
      // it released the server); anything else is a loss.
      if (!(ec == asio::error::operation_aborted && (client_gone_ || releasing_))) {
        if (!client_gone_)
          log::warn(log::conn_ids{id_, server_->id}, "server connection failed: {} ({})", ec.message(), where());
        server_broken_ = true;
      }
      break;
    }
    lease_->out_have += n;
    const std::uint8_t *base = out_.data();
    bool malformed = false;
    bool oversized = false;
    struct visitor_t {
      pooled_session &s;
      const std::uint8_t *base;
      session::spliced_output &out;
      bool &malformed;
      bool &oversized;
      bool wants_whole(std::uint8_t tag) const noexcept { return !streamed_from_server(tag); }
      bool on_message(const session::scanned_message &m) {
        if (!m.complete && !streamed_from_server(m.tag)) {
          oversized = true;  // larger than the relay buffer: read whole below
          return false;
        }
        const std::size_t begin =
            m.complete ? static_cast<std::size_t>(m.body.data() - base) - protocol::tagged_header_size : 0;
        if (!s.relay_server_message(m.tag, m.body, m.complete, begin, begin + 1 + m.length, out)) {
          malformed = true;
          return false;
        }
        return true;
      }
    } visitor{*this, base, out, malformed, oversized};
    out.start(protocol::byte_span(base, lease_->out_have));
    auto r = lease_->server_scan.scan(protocol::byte_span(base, lease_->out_have), visitor);
    if (r.ec || malformed) {
      log::error(log::conn_ids{id_, server_->id}, "invalid message from server: {}",
                 r.ec ? r.ec.message() : std::string("malformed or unexpected message"));
      server_broken_ = true;
      break;
    }
    const std::string_view to_client = out.finish(r.forward);
    pool_->stats().bytes_sent += to_client.size();
    bytes_out_ += to_client.size();
    if (!to_client.empty() && !client_gone_ && co_await write_client(to_client)) {
      client_gone_ = true;
      client_write_failed_ = true;
      client_.cancel();  // wake the other half to clean up
    }
    if (oversized) {
      if (co_await read_whole_message(server_->stream, base + r.forward, lease_->out_have - r.forward,
                                      lease_->big_out)) {
        server_broken_ = true;
        break;
      }
      const auto *whole = reinterpret_cast<const std::uint8_t *>(lease_->big_out.data());
      out.start(protocol::byte_span(whole, lease_->big_out.size()));
      if (!relay_server_message(whole[0],
                                protocol::byte_span(whole + protocol::tagged_header_size,
                                                    lease_->big_out.size() - protocol::tagged_header_size),
                                true, 0, lease_->big_out.size(), out)) {
        log::error(log::conn_ids{id_, server_->id}, "invalid message from server: malformed or unexpected message");
        server_broken_ = true;
        break;
      }
      const std::string_view whole_out = out.finish(lease_->big_out.size());
      if (!whole_out.empty() && !client_gone_ && co_await write_client(whole_out)) {
        client_gone_ = true;
        client_write_failed_ = true;
        client_.cancel();
      }
      lease_->drop_if_grown(lease_->big_out);
      lease_->out_have = 0;
    } else {
      keep_tail(out_.data(), r.forward, r.keep);
      lease_->out_have = r.keep;
    }
    lease_->drop_if_grown(lease_->out_scratch);  // its bytes are sent
    if (client_gone_) {
      if (cleanup_timer_) cleanup_timer_->cancel();
      if (lease_->tracker.releasable() && lease_->out_have == 0) break;
      continue;
    }
    if (releasing_) break;  // the other half released while this one wrote
    if (lease_->out_have == 0 && lease_->tracker.releasable() && lease_->in_have == 0 &&
        lease_->client_scan.at_boundary() && !client_writing_) {
      releasing_ = true;
      client_.cancel();  // the other half waits for client input: stop it
      break;
    }
  }
  if (server_broken_) {
    // Wake the other half wherever it waits.
    client_.cancel();
    if (cleanup_timer_) cleanup_timer_->cancel();
  }
}

}  // namespace pgfunnel::proxy
