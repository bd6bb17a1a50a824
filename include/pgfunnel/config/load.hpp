// The config module's entry points: command line + environment + YAML file -> settings, or a list of errors.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgfunnel/config/config.hpp"

namespace pgfunnel::config {

// One problem, located. `where` is "FILE:LINE", "--flag", "env NAME", a file name alone, or empty
// (a built-in default); `path` is the dotted key ("listen.pooled", "users[1].password") or empty.
struct diagnostic {
  std::string where;
  std::string path;
  std::string message;

  // "FILE:LINE: path: message"; for a flag or env var the name already says which key, so
  // "--pool-size: message" / "env PGFUNNEL_POOL_SIZE: message".
  std::string to_string() const;
};

// The process environment as a value, so tests never depend on the real environ.
class environment {
 public:
  environment() = default;
  explicit environment(std::map<std::string, std::string, std::less<>> vars) : vars_(std::move(vars)) {}
  environment(std::initializer_list<std::pair<const std::string, std::string>> vars) : vars_(vars) {}

  std::optional<std::string> get(std::string_view name) const;
  void set(std::string name, std::string value) { vars_.insert_or_assign(std::move(name), std::move(value)); }
  const std::map<std::string, std::string, std::less<>>& vars() const { return vars_; }

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

environment from_environ();  // a copy of this process's environment

// A flag that main handles itself (e.g. "--foreground"); listed in --help after the built-in ones.
struct flag_spec {
  std::string name;        // without dashes: "foreground"
  bool takes_value = false;
  std::string value_name;  // shown in --help when takes_value: "DIR"
  std::string help;        // one line
};

// A setting given as a flag, kept as text until load() so it gets the same validation as the file.
struct setting_flag {
  std::string key;    // key path: "listen.pooled"
  std::string value;  // raw text
};

struct cli_args {
  std::optional<std::string> config_path;  // --config FILE, or the one positional FILE
  bool check_config = false;               // --check-config [FILE]
  bool version = false;                    // --version
  bool help = false;                       // --help / -h
  std::vector<setting_flag> settings;      // in command-line order; a later one wins
  std::map<std::string, std::string> extra;  // main's own flags (flag_spec); "" for a switch
  std::vector<std::string> positional;     // commands ("dev") and their arguments; everything after "--"
};

// argv[0] is the program name. Errors (unknown flag with did-you-mean, missing value) go to `errors`;
// the returned args hold everything that did parse.
cli_args parse_command_line(int argc, char** argv, std::vector<diagnostic>& errors,
                            std::span<const flag_spec> extra_flags = {});
// Same, without the program name (handy in tests).
cli_args parse_command_line(const std::vector<std::string>& args, std::vector<diagnostic>& errors,
                            std::span<const flag_spec> extra_flags = {});
// PgBouncer's `pgbouncer FILE` and nginx's `-t` habits: one positional word is the config file
// (`pgfunnel FILE`, `pgfunnel --check-config FILE`). More words, or a positional FILE as well as
// --config, are errors. For pgfunnel itself, which has no commands.
void take_config_argument(cli_args& cli, std::vector<diagnostic>& errors);

struct load_result {
  settings value;                       // meaningful only when ok()
  std::vector<diagnostic> errors;       // every problem found, in file order then env then flags
  std::vector<diagnostic> warnings;     // legal but probably wrong (no users, trust on a public address)
  std::map<std::string, std::string> sources;  // key path -> where its value came from; absent = default
  std::optional<std::string> config_path;      // the file that was read, if any

  bool ok() const { return errors.empty(); }
};

// default < file (cli.config_path, else env PGFUNNEL_CONFIG, else none) < env PGFUNNEL_* < flags.
load_result load(const cli_args& cli, const environment& env);
// Same with the YAML given as text; `file_name` is used in diagnostics only.
load_result load_text(std::string_view yaml, std::string_view file_name, const cli_args& cli,
                      const environment& env);

// Usage text built from the key table: every flag, its env var, default, reload behaviour, help line.
std::string help_text(std::string_view program, std::span<const flag_spec> extra_flags = {});
// Every effective setting, one per line, secrets redacted (for --check-config).
std::string describe(const settings& s);
// Same, with where each value came from.
std::string describe(const load_result& r);

}  // namespace pgfunnel::config
