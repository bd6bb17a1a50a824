// The leased phase of a pooled client: both directions relayed in place until the transaction ends.
#include <cstring>

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {
// How long a server may take to settle after its client vanished before it is closed instead.
constexpr auto cleanup_deadline = std::chrono::seconds(5);

// Client messages: only tags matter (the tracker counts them); Terminate stops the relay.
struct client_visitor {
  session::transaction_tracker& tracker;
  bool terminated = false;
  bool wants_whole(std::uint8_t) const noexcept { return false; }
  bool on_message(const session::scanned_message& m) noexcept {
    if (m.tag == 'X') {
      terminated = true;
      return false;
    }
    tracker.on_client_message(m.tag);
    return true;
  }
};

// Server messages: ReadyForQuery and ParameterStatus are read; the rest only counted by tag.
struct server_visitor {
  session::transaction_tracker& tracker;
  pool::server_connection& server;
  session::parameter_set& client_params;
  bool malformed = false;
  bool wants_whole(std::uint8_t tag) const noexcept { return tag == 'Z' || tag == 'S'; }
  bool on_message(const session::scanned_message& m) noexcept {
    tracker.on_server_message(m.tag);
    if (m.tag == 'Z') {
      protocol::transaction_status status;
      if (!m.complete || protocol::decode_ready_for_query(m.body, status)) {
        malformed = true;
        return false;
      }
      tracker.on_ready_for_query(status);
    } else if (m.tag == 'S' && m.complete) {
      protocol::parameter_status ps;
      if (!protocol::decode_parameter_status(m.body, ps)) {
        server.params.set(ps.name, ps.value);
        // The client now believes this value; it follows the client to its next server.
        if (session::is_tracked_parameter(ps.name)) client_params.set(ps.name, ps.value);
      }
    }
    return true;
  }
};

void keep_tail(std::uint8_t* data, std::size_t forward, std::size_t keep) {
  if (keep > 0 && forward > 0) std::memmove(data, data + forward, keep);
}
}  // namespace

asio::awaitable<void> pooled_session::client_to_server() {
  for (;;) {
    if (in_have_ > 0) {
      client_visitor visitor{tracker_};
      auto r = client_scan_.scan(protocol::byte_span(in_.data(), in_have_), visitor);
      if (r.ec) {
        log::warn(log::conn_ids{id_, server_->id}, "invalid message from client: {}", r.ec.message());
        std::string err;
        protocol::encode_error_response(err, {"FATAL", "08P01", fmt::format("invalid frontend message: {}", r.ec.message())});
        co_await net::write_all(client_, err);
        in_have_ = 0;
        end(close_reason::protocol_error);
        client_gone_ = true;
        break;
      }
      if (r.forward > 0) {
        auto [ec, n] = co_await asio::async_write(server_->socket, asio::buffer(in_.data(), r.forward), net::use_nothrow);
        if (ec) {
          server_broken_ = true;
          break;
        }
      }
      if (visitor.terminated) {
        in_have_ = 0;
        end(close_reason::client_terminate);
        client_gone_ = true;
        break;
      }
      keep_tail(in_.data(), r.forward, r.keep);
      in_have_ = r.keep;
    }
    if (releasing_ || server_broken_) co_return;
    auto [wec] = co_await client_.async_wait(net::tcp::socket::wait_read, net::use_nothrow);
    if (releasing_ || server_broken_) co_return;
    if (wec) {
      client_gone_ = true;
      break;
    }
    error_code ec;
    const std::size_t n =
        client_.read_some(asio::buffer(in_.data() + in_have_, net::relay_buffer::capacity - in_have_), ec);
    if (ec == asio::error::would_block) continue;
    if (ec || n == 0) {
      client_gone_ = true;
      break;
    }
    in_have_ += n;
  }
  if (client_gone_ && !server_broken_) co_await clean_up_after_client();
}

// The client left while it held the server. Finish what it started so the server can go back clean:
// end a COPY, close an open extended-protocol batch, cancel a running query, ROLLBACK an open
// transaction; and close the server when that does not settle within cleanup_deadline.
asio::awaitable<void> pooled_session::clean_up_after_client() {
  in_have_ = 0;
  if (!client_scan_.at_boundary()) {
    // Half a message went to the server: nothing can complete it.
    server_broken_ = true;
    server_->socket.cancel();
    co_return;
  }
  std::string fix;
  if (tracker_.in_copy_in()) {
    protocol::message_builder(fix, 'f').cstring("client disconnected");
    tracker_.on_client_message('f');
  }
  if (tracker_.unsynced()) {
    // A bare Sync would COMMIT the implicit transaction of a batch the client never finished;
    // PostgreSQL rolls such work back when its client leaves. An Execute of a portal that cannot
    // exist fails the batch first, so the Sync ends it in a rollback.
    protocol::message_builder(fix, 'E').cstring("pgfunnel: client gone").i32(0);
    tracker_.on_client_message('E');
    protocol::encode_sync(fix);
    tracker_.on_client_message('S');
  }
  if (!fix.empty() && co_await net::write_all(server_->socket, fix)) {
    server_broken_ = true;
    co_return;
  }
  if (tracker_.owed_ready_for_query() > 0 || tracker_.in_copy_out()) {
    // Its answer has nobody to go to: stop the work rather than wait for it.
    ++cancel_->in_flight;
    asio::co_spawn(client_.get_executor(),
                   [target = cancel_, endpoint = server_->peer, key = server_->key]() -> asio::awaitable<void> {
                     co_await send_cancel(endpoint, key, std::chrono::seconds(5));
                     --target->in_flight;
                   },
                   asio::detached);
  }
  const auto deadline = net::clock::now() + cleanup_deadline;
  bool rollback_sent = false;
  while (!server_broken_) {
    if (tracker_.releasable() && !tracker_.uncertain()) {
      server_->socket.cancel();  // stop the other half's read: nothing more will come
      co_return;
    }
    if (tracker_.drained() && !rollback_sent && tracker_.status() != protocol::transaction_status::idle) {
      std::string rollback;
      protocol::encode_query(rollback, "ROLLBACK");
      tracker_.on_client_message('Q');
      rollback_sent = true;
      if (co_await net::write_all(server_->socket, rollback)) {
        server_broken_ = true;
        break;
      }
      continue;
    }
    if (net::clock::now() >= deadline || tracker_.uncertain()) {
      log::info(log::conn_ids{id_, server_->id}, "server did not settle after its client left: closing it");
      server_broken_ = true;
      server_->socket.cancel();
      break;
    }
    // The other half pokes this timer after every server read.
    cleanup_timer_->expires_at(deadline);
    co_await cleanup_timer_->async_wait(net::use_nothrow);
  }
}

asio::awaitable<void> pooled_session::server_to_client() {
  for (;;) {
    auto [ec, n] = co_await server_->socket.async_read_some(
        asio::buffer(out_.data() + out_have_, net::relay_buffer::capacity - out_have_), net::use_nothrow);
    if (ec) {
      // A cancelled read during cleanup is the other half saying "done"; anything else is a loss.
      if (!(ec == asio::error::operation_aborted && client_gone_)) {
        if (!client_gone_)
          log::warn(log::conn_ids{id_, server_->id}, "server connection failed: {}", ec.message());
        server_broken_ = true;
      }
      break;
    }
    out_have_ += n;
    server_visitor visitor{tracker_, *server_, params_};
    auto r = server_scan_.scan(protocol::byte_span(out_.data(), out_have_), visitor);
    if (r.ec || visitor.malformed) {
      log::error(log::conn_ids{id_, server_->id}, "invalid message from server: {}",
                 r.ec ? r.ec.message() : std::string("malformed ReadyForQuery"));
      server_broken_ = true;
      break;
    }
    if (r.forward > 0 && !client_gone_) {
      auto [wec, wn] = co_await asio::async_write(client_, asio::buffer(out_.data(), r.forward), net::use_nothrow);
      if (wec) {
        client_gone_ = true;
        client_write_failed_ = true;
        client_.cancel();  // wake the other half to clean up
      }
    }
    keep_tail(out_.data(), r.forward, r.keep);
    out_have_ = r.keep;
    if (client_gone_) {
      cleanup_timer_->cancel();
      if (tracker_.releasable() && out_have_ == 0) break;
      continue;
    }
    if (out_have_ == 0 && tracker_.releasable() && in_have_ == 0 && client_scan_.at_boundary()) {
      releasing_ = true;
      client_.cancel();  // the other half waits for client input: stop it
      break;
    }
  }
  if (server_broken_) {
    // Wake the other half wherever it waits.
    client_.cancel();
    cleanup_timer_->cancel();
  }
}

}  // namespace pgfunnel::proxy
