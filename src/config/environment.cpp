// The environment as a value: lookup, and a snapshot of the real environ for main.
#include <unistd.h>

#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {

std::optional<std::string> environment::get(std::string_view name) const {
  const auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

environment from_environ() {
  environment env;
  for (char** p = ::environ; p != nullptr && *p != nullptr; ++p) {
    const std::string_view entry(*p);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.set(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

}  // namespace pgfunnel::config
