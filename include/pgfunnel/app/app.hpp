// The running proxy: io_context and worker threads, listeners, pools, signals.
#pragma once

#include <memory>

#include "pgfunnel/config/config.hpp"

namespace pgfunnel::app {

// Runs until SIGINT/SIGTERM (or stop()). Returns the process exit code.
int run(std::shared_ptr<const config::settings> settings);

}  // namespace pgfunnel::app
