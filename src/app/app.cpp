// The proxy process: binds the listeners, runs the worker threads, reloads on SIGHUP, shuts down on signals.
#include "pgfunnel/app/app.hpp"

#include <boost/asio/signal_set.hpp>
#include <thread>
#include <unistd.h>
#include <vector>

#include "pgfunnel/app/sd_notify.hpp"
#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/http/server.hpp"
#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/net/listener.hpp"
#include "pgfunnel/proxy/direct_session.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::app {

namespace asio = net::asio;

namespace {
// The address actually bound (port 0 in the config means the system picked one; tests read it here).
std::string endpoint_text(const net::tcp::endpoint& e) {
  const auto a = e.address();
  return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), e.port()) : fmt::format("{}:{}", a.to_string(), e.port());
}
// SIGHUP / RELOAD: read the configuration again and apply it; a bad file changes nothing.
void apply_reload(proxy::proxy_context& context, const config_source& source) {
  if (!source) {
    log::warn("reload: this process has no configuration source to read again");
    return;
  }
  config::load_result loaded = source();
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) log::error("reload: {}", e.to_string());
    log::error("reload failed ({} error{}): the running configuration stays", loaded.errors.size(),
               loaded.errors.size() == 1 ? "" : "s");
    return;
  }
  const auto current = context.settings();
  config::settings next = std::move(loaded.value);
  // Certificates are read again even when their paths did not change: a renewed file is the point.
  if (std::string tls_error; !context.load_tls(next, false, tls_error)) {
    log::error("reload: {}", tls_error);
    log::error("reload failed (1 error): the running configuration stays");
    return;
  }
  unsigned applied = 0;
  for (const config::key_info* k : config::changed_keys(*current, next)) {
    if (!k->reloadable) {
      log::warn("reload: {} changed to {} but needs a restart; still {}", k->path, k->show(next, true),
                k->show(*current, true));
      std::vector<std::string> ignored;
      k->apply(next, k->show(*current, false), ignored);  // keep the running value
      continue;
    }
    log::info("reload: {} = {}", k->path, k->show(next, true));
    ++applied;
  }
  log::set_level(next.log_level);
  context.replace_settings(std::make_shared<const config::settings>(std::move(next)));
  log::info("configuration reloaded{}: {} setting{} changed", loaded.config_path ? " from " + *loaded.config_path : "",
            applied, applied == 1 ? "" : "s");
}

// systemd (Type=notify) hears of the reload and, whatever its outcome, that we serve again.
void reload(proxy::proxy_context& context, const config_source& source) {
  sd_notify(reloading_state());
  apply_reload(context, source);
  sd_notify("READY=1");
}

// Graceful shutdown: listeners closed and /readyz unready at once, then the process waits for what
// the signal asks (no leased server, or no client) up to shutdown_timeout.
class shutdown_control {
 public:
  enum class wait_for { servers, clients };

  // Everything here runs on `strand` (signals, admin hooks and the poll timer share it).
  shutdown_control(asio::io_context& io, asio::strand<asio::io_context::executor_type> strand,
                   proxy::proxy_context& context, std::vector<std::unique_ptr<net::tcp::acceptor>>& acceptors)
      : io_(io), context_(context), acceptors_(acceptors), timer_(strand) {}

  void begin(wait_for what, std::string_view why) {
    if (started_) {
      log::info("{} during shutdown: exiting now", why);
      stop_now();
      return;
    }
    started_ = true;
    sd_notify("STOPPING=1");
    what_ = what;
    context_.draining = true;
    // SIGINT is PgBouncer's PAUSE + SHUTDOWN: no new transaction starts, so servers come free.
    if (what == wait_for::servers)
      for (const auto& p : context_.pools.all()) p->pause();
    for (auto& a : acceptors_) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    const auto timeout = context_.settings()->shutdown_timeout;
    deadline_ = net::clock::now() + net::or_forever(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    log::info("{}: no new connections; exiting once {} (at most {} s)", why,
              what == wait_for::servers ? "no server is leased" : "every client has left",
              std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
    poll();
  }

  void stop_now() {
    if (!started_) sd_notify("STOPPING=1");  // SIGQUIT: no drain came first
    started_ = true;
    context_.draining = true;
    for (auto& a : acceptors_) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    timer_.cancel();
    context_.pools.stop_all();
    io_.stop();
  }

 private:
  bool done() const {
    if (what_ == wait_for::clients) return context_.pooled_clients.load() + context_.direct_clients.load() == 0;
    for (const auto& p : context_.pools.all())
      if (p->counts().active > 0) return false;
    return true;
  }

  void poll() {
    if (done()) {
      log::info("shutdown: {}", what_ == wait_for::servers ? "no server leased" : "no client left");
      stop_now();
      return;
    }
    if (net::clock::now() >= deadline_) {
      log::warn("shutdown_timeout reached with {} pooled and {} direct clients connected: exiting",
                context_.pooled_clients.load(), context_.direct_clients.load());
      stop_now();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(50));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) poll();
    });
  }

  asio::io_context& io_;
  proxy::proxy_context& context_;
  std::vector<std::unique_ptr<net::tcp::acceptor>>& acceptors_;
  asio::steady_timer timer_;
  bool started_ = false;
  wait_for what_ = wait_for::servers;
  net::clock::time_point deadline_{};
};

// Re-arms itself after every signal; runs on the io_context.
void watch_signals(asio::signal_set& signals, proxy::proxy_context& context, shutdown_control& shutdown,
                   const config_source& source) {
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    switch (signal) {
      case SIGHUP:
        log::info("SIGHUP: reloading the configuration");
        reload(context, source);
        break;
      case SIGINT:
        shutdown.begin(shutdown_control::wait_for::servers, "SIGINT");
        break;
      case SIGTERM:
        shutdown.begin(shutdown_control::wait_for::clients, "SIGTERM");
        break;
      case SIGQUIT:
        log::info("SIGQUIT: exiting now");
        shutdown.stop_now();
        return;
      case SIGUSR1:
        // As PgBouncer's PAUSE: running transactions finish, new ones wait for SIGUSR2.
        log::info("SIGUSR1: pausing every pool");
        for (const auto& p : context.pools.all()) p->pause();
        break;
      case SIGUSR2:
        log::info("SIGUSR2: resuming every pool");
        for (const auto& p : context.pools.all()) p->resume();
        break;
      default:
        break;
    }
    watch_signals(signals, context, shutdown, source);
  });
}

}  // namespace

int run(std::shared_ptr<const config::settings> settings, config_source reload_source) {
  // One thread: the io_context may skip its internal locking.
  asio::io_context io(settings->workers == 1 ? 1 : static_cast<int>(settings->workers));
  // Sessions and pools share the context; whatever io still holds at exit keeps it alive while
  // io's destructor tears them down.
  auto context = std::make_shared<proxy::proxy_context>(io, settings);
  if (std::string tls_error; !context->load_tls(*settings, true, tls_error)) {
    log::error("{}", tls_error);
    return 1;
  }

  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors;
  try {
    if (settings->listen_pooled.enabled()) {
      auto& acceptor = acceptors.emplace_back(
          std::make_unique<net::tcp::acceptor>(net::open_listener(io, settings->listen_pooled)));
      const bool loopback = settings->listen_pooled.is_loopback();
      asio::co_spawn(io,
                     net::accept_loop(*acceptor, io,
                                      [context, loopback](net::tcp::socket socket) {
                                        auto executor = socket.get_executor();
                                        auto session = std::make_shared<proxy::pooled_session>(std::move(socket), context,
                                                                                               loopback);
                                        asio::co_spawn(executor, [session] { return session->run(); }, asio::detached);
                                      },
                                      "pooled", settings->workers > 1),
                     asio::detached);
      log::info("pooled listener (transaction mode) on {}", endpoint_text(acceptor->local_endpoint()));
    }
    if (settings->listen_direct.enabled()) {
      auto& acceptor = acceptors.emplace_back(
          std::make_unique<net::tcp::acceptor>(net::open_listener(io, settings->listen_direct)));
      asio::co_spawn(io,
                     net::accept_loop(*acceptor, io,
                                      [context](net::tcp::socket socket) {
                                        auto executor = socket.get_executor();
                                        asio::co_spawn(executor, proxy::run_direct_session(std::move(socket), context),
                                                       asio::detached);
                                      },
                                      "direct", settings->workers > 1),
                     asio::detached);
      log::info("direct listener (session passthrough) on {}", endpoint_text(acceptor->local_endpoint()));
    }
    if (settings->listen_http.enabled()) {
      // Not among `acceptors`: a shutdown closes those at once, while /readyz goes on answering
      // "draining". Its accept loop and upstream check own what they use, so the handle may go.
      http::server http_server(io, context, settings->listen_http);
      http_server.start();
      log::info("http listener (metrics, health) on {}", endpoint_text(http_server.local_endpoint()));
    }
  } catch (const boost::system::system_error& e) {
    log::critical("cannot listen: {}", e.what());
    return 1;
  }
  log::info("upstream {}, pool_size {}, max_client_conn {}, {} worker thread{}", settings->upstream.redacted(),
            settings->pool_size, settings->max_client_conn, settings->workers, settings->workers == 1 ? "" : "s");

  auto control = asio::make_strand(io);
  shutdown_control shutdown(io, control, *context, acceptors);
  context->reload_requested = [control, &context = *context, &reload_source] {
    asio::post(control, [&context, &reload_source] { reload(context, reload_source); });
  };
  context->shutdown_requested = [control, &shutdown] {
    asio::post(control, [&shutdown] { shutdown.begin(shutdown_control::wait_for::servers, "SHUTDOWN"); });
  };
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGQUIT);
  signals.add(SIGHUP);
  signals.add(SIGUSR1);
  signals.add(SIGUSR2);
  watch_signals(signals, *context, shutdown, reload_source);
  // Every listener is bound and the signals are watched: systemd may now start what needs us.
  sd_notify(fmt::format("READY=1\nMAINPID={}\nSTATUS=serving {}", ::getpid(), settings->upstream.redacted()));

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < settings->workers; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  acceptors.clear();
  context->reload_requested = nullptr;  // they refer to this frame
  context->shutdown_requested = nullptr;
  context.reset();
  log::info("pgfunnel stopped");
  log::flush();
  return 0;
}

}  // namespace pgfunnel::app
