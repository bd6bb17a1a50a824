// --help and --check-config text, both generated from the key table so they never drift from it.
#include <algorithm>

#include <fmt/format.h>

#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {

namespace {

std::string option_line(std::string_view left, std::string_view help) {
  return fmt::format("  {:<28} {}\n", left, help);
}

}  // namespace

std::string help_text(std::string_view program, std::span<const flag_spec> extra_flags) {
  std::string out = fmt::format("Usage: {0} [OPTIONS] [FILE]\n       {0} --check-config [OPTIONS] [FILE]\n\n"
      "pgfunnel, a PostgreSQL connection pooler.\nFILE is the YAML configuration file, as --config FILE.\n\n", program);
  out += "Options:\n";
  out += option_line("--config FILE", "YAML configuration file (env PGFUNNEL_CONFIG)");
  out += option_line("--check-config [FILE]", "Load and check the configuration, print the effective settings, exit");
  out += option_line("--version", "Print the version and exit");
  out += option_line("-h, --help", "Print this help and exit");
  for (const auto& f : extra_flags)
    out += option_line(f.takes_value ? fmt::format("--{} {}", f.name, f.value_name) : "--" + f.name, f.help);

  out += "\nSettings (a flag beats its environment variable, which beats the config file, which beats the default):\n";
  for (const auto& k : keys()) {
    out += fmt::format("  {} {}\n", k.flag(), k.value_name);
    std::string help(k.help);
    if (!k.choices.empty()) help += fmt::format(" ({})", fmt::join(k.choices, "|"));
    out += fmt::format("      {}\n", help);
    const std::string def = k.default_text.empty() ? "none" : std::string(k.default_text);
    out += fmt::format("      env {}; default {}; {}\n", k.env_var(), def,
                       k.reloadable ? "reloads" : "restart needed");
  }
  out +=
      "\nDURATION: 250ms, 30s, 5m, 1h, 2d; a bare number means seconds; 0 disables the timeout.\n"
      "SIZE: 512, 8kB, 64MB, 1GB (1kB = 1024 bytes).\n"
      "HOST:PORT: 127.0.0.1:6432, [::1]:6432, 0.0.0.0:6432; 'off' disables the listener.\n"
      "'reloads' marks what a reload (SIGHUP, or RELOAD on the admin console) applies live; a\n"
      "'restart needed' key changed in the file keeps its running value until the next start.\n"
      "\nSignals: SIGHUP reloads; SIGINT exits once no server is leased; SIGTERM exits once every\n"
      "client has left (both within shutdown_timeout); a second signal or SIGQUIT exits at once;\n"
      "SIGUSR1 pauses every pool, SIGUSR2 resumes them. SIGPIPE is ignored: a peer that went away\n"
      "ends only its own connection.\n"
      "Under systemd (Type=notify), READY=1 goes to $NOTIFY_SOCKET once the listeners are bound.\n";
  return out;
}

std::string describe(const settings& s) { return describe(load_result{s, {}, {}, {}, {}}); }

std::string describe(const load_result& r) {
  std::size_t width = 0;
  for (const auto& k : keys()) width = std::max(width, k.path.size());
  std::string out;
  for (const auto& k : keys()) {
    out += fmt::format("{:<{}} = {}", k.path, width, k.show(r.value, true));
    if (const auto it = r.sources.find(std::string(k.path)); it != r.sources.end())
      out += fmt::format("  # {}", it->second);
    out += '\n';
  }
  return out;
}

}  // namespace pgfunnel::config
