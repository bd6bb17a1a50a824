// pgfunnel's command line: parse flags, load the configuration, then check it or run the proxy.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sys/resource.h>

#include "pgfunnel/app/app.hpp"
#include "pgfunnel/config/load.hpp"
#include "pgfunnel/log/log.hpp"

#ifndef PGFUNNEL_VERSION
#define PGFUNNEL_VERSION "0.0.0"
#endif

namespace {

// Thousands of clients need thousands of descriptors: take the hard limit we are allowed.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void print_diagnostics(const std::vector<pgfunnel::config::diagnostic>& list, const char* kind) {
  for (const auto& d : list) std::cerr << "pgfunnel: " << kind << d.to_string() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pgfunnel;
  // Before any thread exists, so every thread inherits it. systemd, Docker and Kubernetes start us
  // with SIGPIPE at its default action, which ends the process: a peer that went away (a terminated
  // backend under TLS, a client that reset, `pgfunnel | head`) must be EPIPE on that one descriptor,
  // handled where it happened, never the end of every client. The sockets do not rely on this alone
  // (Asio and net::make_socket_bio send with MSG_NOSIGNAL); the log and the standard streams do.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<config::diagnostic> errors;
  config::cli_args cli = config::parse_command_line(argc, argv, errors);
  config::take_config_argument(cli, errors);
  if (cli.help) {
    std::cout << config::help_text("pgfunnel");
    return 0;
  }
  if (cli.version) {
    std::cout << "pgfunnel " << PGFUNNEL_VERSION << "\n";
    return 0;
  }
  if (!errors.empty()) {
    print_diagnostics(errors, "");
    std::cerr << "pgfunnel: see pgfunnel --help\n";
    return 2;
  }
  const config::load_result loaded = config::load(cli, config::from_environ());
  print_diagnostics(loaded.warnings, "warning: ");
  if (!loaded.ok()) {
    print_diagnostics(loaded.errors, "");
    std::cerr << "pgfunnel: " << loaded.errors.size() << " configuration error" << (loaded.errors.size() == 1 ? "" : "s")
              << "\n";
    return 1;
  }
  if (cli.check_config) {
    std::cout << "configuration OK" << (loaded.config_path ? " (" + *loaded.config_path + ")" : std::string()) << "\n"
              << config::describe(loaded);
    return 0;
  }
  try {
    log::init(loaded.value.log_level, loaded.value.log_fmt == config::log_format::json);
  } catch (const std::exception& e) {
    std::cerr << "pgfunnel: " << e.what() << "\n";
    return 1;
  }
  raise_fd_limit();
  log::info("pgfunnel {} starting", PGFUNNEL_VERSION);
  // A reload reads the same sources again; flags given at start-up still win over the file.
  app::config_source reload_source = [cli] { return config::load(cli, config::from_environ()); };
  return app::run(std::make_shared<const config::settings>(loaded.value), std::move(reload_source));
}
