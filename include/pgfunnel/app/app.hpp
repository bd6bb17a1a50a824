// The running proxy: io_context and worker threads, listeners, pools, signals, reload and shutdown.
#pragma once

#include <functional>
#include <memory>

#include "pgfunnel/config/config.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::app {

// Reads the configuration again (file, environment, the original flags) for a reload.
using config_source = std::function<config::load_result()>;

// Runs until a shutdown completes. Signals, as PgBouncer 1.23+: SIGHUP reloads; SIGINT stops once
// no server is leased; SIGTERM stops once every client has left (both bounded by
// shutdown_timeout, listeners closed and /readyz unready at once); a second SIGINT/SIGTERM or
// SIGQUIT stops at once. Returns the process exit code.
int run(std::shared_ptr<const config::settings> settings, config_source reload_source = {});

}  // namespace pgfunnel::app
