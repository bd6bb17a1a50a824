// Command-line flags and PGFUNNEL_* environment variables, named after the key table.
#include <algorithm>

#include <fmt/format.h>

#include "pgfunnel/config/parse.hpp"
#include "pgfunnel/config/sources.hpp"

namespace pgfunnel::config {

namespace {

constexpr std::string_view env_prefix = "PGFUNNEL_";
constexpr std::string_view config_env = "PGFUNNEL_CONFIG";

// Built-in flags that are not settings; values are not run through the key table.
enum class builtin { none, config, check_config, version, help };

builtin find_builtin(std::string_view name) {
  if (name == "config") return builtin::config;
  if (name == "check-config") return builtin::check_config;
  if (name == "version") return builtin::version;
  if (name == "help") return builtin::help;
  return builtin::none;
}

std::vector<std::string> all_flag_names(std::span<const flag_spec> extra) {
  std::vector<std::string> names{"--config", "--check-config", "--version", "--help"};
  for (const auto& k : keys()) names.push_back(k.flag());
  for (const auto& f : extra) names.push_back("--" + f.name);
  return names;
}

}  // namespace

cli_args parse_command_line(const std::vector<std::string>& args, std::vector<diagnostic>& errors,
                            std::span<const flag_spec> extra_flags) {
  cli_args out;
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg == "-" || !arg.starts_with("-")) {
      out.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "-h") {
      out.help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      errors.push_back({arg, "", "unknown option (long flags start with '--'; see --help)"});
      continue;
    }
    const std::string body = arg.substr(2);
    const auto eq = body.find('=');
    const std::string name = body.substr(0, eq);
    std::optional<std::string> value;
    if (eq != std::string::npos) value = body.substr(eq + 1);
    const std::string flag = "--" + name;

    const builtin b = find_builtin(name);
    const key_info* key = b == builtin::none ? find_key_by_flag(name) : nullptr;
    const auto extra = std::find_if(extra_flags.begin(), extra_flags.end(),
                                    [&](const flag_spec& f) { return f.name == name; });
    const bool known_extra = extra != extra_flags.end();
    if (b == builtin::none && key == nullptr && !known_extra) {
      std::string message = "unknown flag";
      if (auto m = did_you_mean(flag, all_flag_names(extra_flags))) message += fmt::format("; did you mean {}?", *m);
      errors.push_back({flag, "", message + " (see --help)"});
      continue;
    }
    const bool takes_value = b == builtin::config || key != nullptr || (known_extra && extra->takes_value);
    if (!takes_value) {
      if (value) {
        errors.push_back({flag, "", "takes no value"});
        continue;
      }
    } else if (!value) {
      // "--flag value": the next word is the value even if it starts with '-' (a password might).
      if (i + 1 >= args.size()) {
        errors.push_back({flag, "", "needs a value"});
        continue;
      }
      value = args[++i];
    }
    switch (b) {
      case builtin::config: out.config_path = *value; break;
      case builtin::check_config: out.check_config = true; break;
      case builtin::version: out.version = true; break;
      case builtin::help: out.help = true; break;
      case builtin::none:
        if (key) out.settings.push_back({std::string(key->path), *value});
        else out.extra[name] = value.value_or("");
        break;
    }
  }
  return out;
}

cli_args parse_command_line(int argc, char** argv, std::vector<diagnostic>& errors,
                            std::span<const flag_spec> extra_flags) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return parse_command_line(args, errors, extra_flags);
}

void take_config_argument(cli_args& cli, std::vector<diagnostic>& errors) {
  if (cli.positional.empty()) return;
  for (std::size_t i = 1; i < cli.positional.size(); ++i)
    errors.push_back({cli.positional[i], "", "unexpected argument (one FILE at most; see --help)"});
  const std::string& file = cli.positional.front();
  if (cli.config_path) {
    errors.push_back({file, "", fmt::format("a second config file (--config {} was given; see --help)", *cli.config_path)});
    return;
  }
  cli.config_path = file;
  cli.positional.clear();
}

void apply_env(const environment& env, settings& s, source_map& sources, std::vector<diagnostic>& errors,
               std::vector<diagnostic>& warnings) {
  std::vector<std::string> names{std::string(config_env)};
  for (const auto& k : keys()) {
    const std::string name = k.env_var();
    names.push_back(name);
    if (auto value = env.get(name)) apply_value(k, s, *value, "env " + name, sources, errors);
  }
  // Other programs may use the prefix too, so only a near miss of a real name is worth a word.
  for (const auto& [name, value] : env.vars()) {
    if (!name.starts_with(env_prefix) || std::find(names.begin(), names.end(), name) != names.end()) continue;
    if (auto m = did_you_mean(name, names))
      warnings.push_back({"env " + name, "", fmt::format("not a pgfunnel setting, ignored; did you mean {}?", *m)});
  }
}

void apply_flags(const cli_args& cli, settings& s, source_map& sources, std::vector<diagnostic>& errors) {
  for (const auto& f : cli.settings) {
    const key_info* key = find_key(f.key);
    if (key == nullptr) {
      errors.push_back({"", f.key, "not a setting"});  // only reachable by building cli_args by hand
      continue;
    }
    apply_value(*key, s, f.value, key->flag(), sources, errors);
  }
}

}  // namespace pgfunnel::config
