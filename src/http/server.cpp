// The HTTP listener for operators (Boost.Beast): /metrics, /healthz, /readyz and the periodic upstream check.
#include "pgfunnel/http/server.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <mutex>
#include <string>
#include <tuple>

#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/net/listener.hpp"
#include "pgfunnel/proxy/context.hpp"

#ifndef PGFUNNEL_VERSION
#define PGFUNNEL_VERSION "0.0.0"
#endif

namespace pgfunnel::http {

namespace asio = net::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

namespace {

// Probes and scrapers send a request line and a few headers: anything larger is not one of them.
constexpr std::size_t max_header_bytes = 8 * 1024;
constexpr std::size_t max_body_bytes = 4 * 1024;
// A scraper keeps its connection between scrapes (15 s to 1 min apart); longer silences are closed.
constexpr auto idle_timeout = 75s;
constexpr auto write_timeout = 10s;
// More concurrent HTTP connections than any probe or scraper needs: the rest are closed at once,
// so a flood here cannot take the descriptors the proxy's clients need.
constexpr int max_connections = 64;
// The upstream check behind /readyz: a TCP connect, closed before any startup packet (PostgreSQL
// logs nothing for it unless log_connections is on). It runs when /readyz or /metrics is asked and
// the last result is older than check_freshness: nobody asking, no such connections; a kubelet
// probing every 10 s, one per probe at most. Kubernetes gives a probe 1 s by default.
constexpr auto check_freshness = 2s;
constexpr auto check_timeout = 900ms;

histogram_snapshot read_histogram(const pool::latency_histogram& h) {
  histogram_snapshot out;
  out.bounds.assign(h.bounds.begin(), h.bounds.end());
  for (std::size_t i = 0; i < h.bounds.size(); ++i) out.cumulative.push_back(h.cumulative(i));
  // The +Inf bucket read after the finite ones: never below them, whatever observe() does meanwhile.
  out.count = h.cumulative(h.bounds.size());
  out.sum_seconds = static_cast<double>(h.sum_us()) / 1e6;
  return out;
}

}  // namespace

metrics_snapshot collect_metrics(proxy::proxy_context& context) {
  metrics_snapshot s;
  s.version = PGFUNNEL_VERSION;
  s.pooled_clients = context.pooled_clients.load();
  s.direct_clients = context.direct_clients.load();
  const auto& e = context.errors;
  s.errors = {{"pool_timeout", e.pool_timeout.load()},         {"max_client_conn", e.max_client_conn.load()},
              {"upstream_refused", e.upstream_refused.load()}, {"upstream_error", e.upstream_error.load()},
              {"login_failed", e.login_failed.load()},         {"server_lost", e.server_lost.load()}};
  s.draining = context.draining.load();
  for (const auto& p : context.pools.all()) {
    pool_snapshot ps;
    ps.database = p->database();
    ps.user = p->user();
    const auto counts = p->counts();
    ps.clients_active = counts.active;  // one client per leased server
    ps.clients_waiting = counts.waiting;
    ps.servers_active = counts.active;
    ps.servers_idle = counts.idle - counts.used;
    ps.servers_used = counts.used;
    ps.servers_connecting = counts.connecting;
    auto& st = p->statements();
    ps.servers_pinned = static_cast<unsigned>(std::max(0, st.pinned.load()));
    ps.servers_pinned_objects = static_cast<unsigned>(std::max(0, st.pinned_objects.load()));
    ps.prepared_hits = st.hits.load();
    ps.prepared_misses = st.misses.load();
    ps.prepared_injected = st.injected.load();
    ps.prepared_evictions = st.evictions.load();
    auto& stats = p->stats();
    ps.transactions = stats.xact_count.load();
    ps.queries = stats.query_count.load();
    ps.bytes_received = stats.bytes_received.load();
    ps.bytes_sent = stats.bytes_sent.load();
    ps.transaction_time_us = stats.xact_time_us.load();
    ps.query_time_us = stats.query_time_us.load();
    ps.wait_time_us = stats.wait_time_us.load();
    ps.server_assignments = stats.server_assignments.load();
    ps.wait_time = read_histogram(stats.wait_time);
    ps.transaction_time = read_histogram(stats.xact_time);
    s.pools.push_back(std::move(ps));
  }
  return s;
}

struct server::state {
  state(asio::io_context& io, std::shared_ptr<proxy::proxy_context> context, net::tcp::acceptor acceptor)
      : io(io), context(std::move(context)), strand(asio::make_strand(io)), acceptor(std::move(acceptor)) {
    const auto settings = this->context->settings();
    upstream_host = settings->upstream.host;
    if (auto it = settings->upstream.params.find("host"); it != settings->upstream.params.end())
      upstream_host = it->second;
    upstream_port = settings->upstream.port;
    strand_per_session = settings->workers > 1;
  }

  std::string upstream_text() const {
    return upstream_host.find(':') != std::string::npos ? fmt::format("[{}]:{}", upstream_host, upstream_port)
                                                        : fmt::format("{}:{}", upstream_host, upstream_port);
  }

  bool check_is_fresh() const {
    const auto at = checked_at.load();
    return at != 0 && net::clock::now() - net::clock::time_point(net::clock::duration(at)) < check_freshness;
  }

  // The reason /readyz is not 200, or empty when it is.
  std::string unready_reason() const {
    if (context->draining.load()) return "draining: shutting down, not accepting new clients";
    if (checked_at.load() == 0) return fmt::format("upstream {} not checked yet", upstream_text());
    if (!upstream_ok.load()) {
      std::lock_guard lock(mutex);
      return fmt::format("upstream {} unreachable: {}", upstream_text(), last_error);
    }
    return {};
  }

  // The verdict is stored before the time, so a reader that sees a check also sees its outcome.
  void record_check(const net::error_code& ec) {
    const bool was_ok = upstream_ok.load();
    if (ec) {
      std::lock_guard lock(mutex);
      last_error = ec == asio::error::timed_out ? fmt::format("no TCP connection within {} ms", check_timeout.count())
                                                : ec.message();
    }
    upstream_ok = !ec;
    const bool first = checked_at.exchange(net::clock::now().time_since_epoch().count()) == 0;
    if (!ec && !was_ok && !first) log::info("upstream {} reachable again", upstream_text());
    if (ec && (was_ok || first))
      log::warn("upstream {} unreachable ({}): /readyz reports unready", upstream_text(), ec.message());
  }

  asio::io_context& io;
  const std::shared_ptr<proxy::proxy_context> context;
  asio::strand<asio::io_context::executor_type> strand;  // the accept loop and stop()
  net::tcp::acceptor acceptor;
  std::string upstream_host;
  std::uint16_t upstream_port = 0;
  bool strand_per_session = false;

  std::atomic<int> connections{0};
  std::atomic<net::clock::rep> checked_at{0};  // when the last check ended; 0: never
  std::atomic<bool> upstream_ok{false};
  mutable std::mutex mutex;
  std::string last_error;  // of the last failed check; mutex
};

namespace {

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

response make_response(const request& req, bhttp::status status, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8") {
  response res{status, req.version()};
  res.set(bhttp::field::server, "pgfunnel");
  res.set(bhttp::field::content_type, content_type);
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

net::awaitable<net::error_code> probe(std::string host, std::uint16_t port) {
  auto executor = co_await asio::this_coro::executor;
  net::tcp::resolver resolver(executor);
  auto [rec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), net::use_nothrow);
  if (rec) co_return rec;
  net::tcp::socket socket(executor);
  auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, net::use_nothrow);
  co_return cec;  // the socket closes here, before PostgreSQL's backend expects a startup packet
}

// Checks the upstream again unless the last result is still fresh.
net::awaitable<void> refresh_check(server::state& s) {
  if (!s.check_is_fresh())
    s.record_check(co_await net::with_timeout(probe(s.upstream_host, s.upstream_port), check_timeout));
}

net::awaitable<response> handle(const request& req, server::state& s) {
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));  // Prometheus may add ?name[]=...; nothing here reads it
  const bool known = target == "/metrics" || target == "/healthz" || target == "/readyz";
  if (!known) co_return make_response(req, bhttp::status::not_found, "not found\n");
  if (req.method() != bhttp::verb::get) {
    response res = make_response(req, bhttp::status::method_not_allowed, "only GET\n");
    res.set(bhttp::field::allow, "GET");
    co_return res;
  }
  if (target == "/healthz") co_return make_response(req, bhttp::status::ok, "ok\n");
  if (target == "/readyz") {
    // Draining needs no upstream check: the answer is no whatever it would say.
    if (!s.context->draining.load()) co_await refresh_check(s);
    const std::string reason = s.unready_reason();
    if (reason.empty()) co_return make_response(req, bhttp::status::ok, "ok\n");
    co_return make_response(req, bhttp::status::service_unavailable, reason + "\n");
  }
  co_await refresh_check(s);  // pgfunnel_upstream_reachable says what a scrape would see now
  metrics_snapshot snapshot = collect_metrics(*s.context);
  snapshot.upstream_reachable = s.checked_at.load() != 0 && s.upstream_ok.load();
  co_return make_response(req, bhttp::status::ok, render_metrics(snapshot), metrics_content_type);
}

// A request Beast could not parse gets a status saying why, then the connection closes.
bhttp::status status_for_parse_error(const net::error_code& ec) {
  if (ec == bhttp::error::header_limit) return bhttp::status::request_header_fields_too_large;
  if (ec == bhttp::error::body_limit) return bhttp::status::payload_too_large;
  return bhttp::status::bad_request;
}

bool is_parse_error(const net::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// After an error reply: closing with unread bytes would send a reset, which may destroy the reply
// before the client reads it, so the rest of what it sent is read and dropped first (bounded).
net::awaitable<void> linger(beast::tcp_stream& stream) {
  net::error_code ec;
  stream.socket().shutdown(net::tcp::socket::shutdown_send, ec);
  stream.expires_after(2s);
  std::array<char, 4096> scratch;
  for (std::size_t total = 0; !ec && total < 1024 * 1024;) {
    std::size_t n = 0;
    std::tie(ec, n) = co_await stream.async_read_some(asio::buffer(scratch), net::use_nothrow);
    total += n;
  }
}

net::awaitable<void> serve(net::tcp::socket socket, std::shared_ptr<server::state> s) {
  struct counted {
    std::atomic<int>& n;
    ~counted() { --n; }
  } guard{s->connections};
  if (++s->connections > max_connections) co_return;  // closes the socket

  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(max_header_bytes + max_body_bytes);
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(max_header_bytes);
    parser.body_limit(max_body_bytes);
    stream.expires_after(idle_timeout);
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, net::use_nothrow);
    if (ec) {
      if (is_parse_error(ec)) {
        response res{status_for_parse_error(ec), 11};
        res.set(bhttp::field::server, "pgfunnel");
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.body() = ec.message() + "\n";
        res.keep_alive(false);
        res.prepare_payload();
        stream.expires_after(write_timeout);
        co_await bhttp::async_write(stream, res, net::use_nothrow);
        co_await linger(stream);
      }
      break;
    }
    response res = co_await handle(parser.get(), *s);
    stream.expires_after(write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, net::use_nothrow);
    if (wec || !res.keep_alive()) break;
  }
  net::error_code ignored;
  stream.socket().shutdown(net::tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> accept_http(std::shared_ptr<server::state> s) {
  // A named local, not a temporary inside the co_await expression: g++ 12 destroys such
  // temporaries twice when the coroutine is torn down (here: at exit, the shared_ptr it captures).
  net::session_starter on_accept = [s](net::tcp::socket socket) {
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve(std::move(socket), s), asio::detached);
  };
  std::string name = "http";
  const bool strand_per_session = s->strand_per_session;
  co_await net::accept_loop(s->acceptor, s->io, std::move(on_accept), std::move(name), strand_per_session);
}

}  // namespace

server::server(asio::io_context& io, std::shared_ptr<proxy::proxy_context> context,
               const config::listen_address& address)
    : state_(std::make_shared<state>(io, std::move(context), net::open_listener(io, address))) {}

server::~server() = default;

net::tcp::endpoint server::local_endpoint() const { return state_->acceptor.local_endpoint(); }

void server::start() { asio::co_spawn(state_->strand, accept_http(state_), asio::detached); }

void server::stop() {
  asio::post(state_->strand, [s = state_] {
    net::error_code ignored;
    s->acceptor.close(ignored);
  });
}

}  // namespace pgfunnel::http
