// load(): defaults, then the YAML file, then PGFUNNEL_* env, then flags, then cross-field checks.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "pgfunnel/config/sources.hpp"

namespace pgfunnel::config {

std::string diagnostic::to_string() const {
  // A flag or env var already names its key; repeating the path would only clutter the line.
  const bool names_key = where.starts_with("--") || where.starts_with("env ");
  std::string out;
  for (const std::string* part : {&where, names_key ? nullptr : &path, &message}) {
    if (part == nullptr || part->empty()) continue;
    if (!out.empty()) out += ": ";
    out += *part;
  }
  return out;
}

void apply_value(const key_info& key, settings& s, std::string_view text, const std::string& where,
                 source_map& sources, std::vector<diagnostic>& errors) {
  std::vector<std::string> messages;
  key.apply(s, text, messages);
  for (auto& m : messages) errors.push_back({where, std::string(key.path), std::move(m)});
  if (messages.empty()) sources[std::string(key.path)] = where;
}

void apply_defaults(settings& s, std::vector<diagnostic>& errors) {
  source_map ignored;
  for (const auto& k : keys()) apply_value(k, s, k.default_text, "default", ignored, errors);
}

namespace {

load_result run(const std::optional<std::string>& yaml, std::string_view file_name, const cli_args& cli,
                const environment& env, load_result r) {
  // Nothing may escape: yaml-cpp and the standard library throw, callers expect a list of errors.
  try {
    apply_defaults(r.value, r.errors);
    if (yaml) apply_yaml(*yaml, file_name, env, r.value, r.sources, r.errors);
    apply_env(env, r.value, r.sources, r.errors, r.warnings);
    apply_flags(cli, r.value, r.sources, r.errors);
    check_cross_field(r.value, r.sources, r.errors, r.warnings);
  } catch (const std::exception& e) {
    r.errors.push_back({std::string(file_name), "", fmt::format("internal error while loading: {}", e.what())});
  }
  return r;
}

}  // namespace

load_result load(const cli_args& cli, const environment& env) {
  load_result r;
  r.config_path = cli.config_path;
  if (!r.config_path) {
    if (auto p = env.get("PGFUNNEL_CONFIG"); p && !p->empty()) r.config_path = *p;
  }
  if (!r.config_path) return run(std::nullopt, "", cli, env, std::move(r));

  const std::string path = *r.config_path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // An ifstream opens a directory and reads it as empty, which would pass as "all defaults".
    r.errors.push_back({path, "", "cannot read the config file: it is a directory"});
    return run(std::nullopt, path, cli, env, std::move(r));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    // Still go on with env and flags, so their mistakes show up in the same run.
    r.errors.push_back({path, "", fmt::format("cannot read the config file: {}", std::strerror(errno))});
    return run(std::nullopt, path, cli, env, std::move(r));
  }
  return run(text.str(), path, cli, env, std::move(r));
}

load_result load_text(std::string_view yaml, std::string_view file_name, const cli_args& cli,
                      const environment& env) {
  load_result r;
  r.config_path = std::string(file_name);
  return run(std::string(yaml), file_name, cli, env, std::move(r));
}

}  // namespace pgfunnel::config
