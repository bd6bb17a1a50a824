// The key table: every setting's path, type, default, reload behaviour and help, in one place.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/config/config.hpp"

namespace pgfunnel::config {

// How the YAML loader must read the value; everything but users is a single scalar.
enum class key_shape { scalar, user_list };

struct key_info {
  std::string_view path;          // dotted YAML path: "listen.pooled"
  std::string_view value_name;    // placeholder in --help: "HOST:PORT", "N", "DURATION"
  std::string_view default_text;  // parsed by `apply` to get the default value
  bool reloadable = false;        // false: a change needs a restart
  std::string_view help;          // one line for --help and the example config
  std::vector<std::string> choices;  // allowed values for enumerations (empty otherwise)
  key_shape shape = key_shape::scalar;

  // Parses `text` into its field of `s`; each problem is appended to `errors` as a bare message.
  std::function<void(settings& s, std::string_view text, std::vector<std::string>& errors)> apply;
  // The field as text apply() accepts; with redact, secrets are hidden (for display only).
  std::function<std::string(const settings& s, bool redact)> show;

  std::string flag() const;     // "--listen-pooled"
  std::string env_var() const;  // "PGFUNNEL_LISTEN_POOLED"
};

std::span<const key_info> keys();
const key_info* find_key(std::string_view path);
const key_info* find_key_by_flag(std::string_view flag_without_dashes);  // "listen-pooled"
const key_info* find_key_by_env(std::string_view env_var);              // "PGFUNNEL_LISTEN_POOLED"

// Keys whose values differ (secrets compared too); reload uses it to refuse restart-only changes.
std::vector<const key_info*> changed_keys(const settings& before, const settings& after);

}  // namespace pgfunnel::config
