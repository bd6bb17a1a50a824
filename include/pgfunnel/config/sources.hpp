// Internal to the config library: the steps load() chains (defaults, file, env, flags, cross-field checks).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/config/config.hpp"
#include "pgfunnel/config/keys.hpp"
#include "pgfunnel/config/load.hpp"

namespace pgfunnel::config {

// key path -> where its current value came from ("FILE:LINE", "--flag", "env NAME").
using source_map = std::map<std::string, std::string>;

// Runs key.apply and turns its messages into diagnostics at `where`; records the source when it parsed.
void apply_value(const key_info& key, settings& s, std::string_view text, const std::string& where,
                 source_map& sources, std::vector<diagnostic>& errors);

// Every key's default_text. Errors here are bugs in the key table (a unit test asserts none).
void apply_defaults(settings& s, std::vector<diagnostic>& errors);

// YAML text -> settings; every problem located as FILE:LINE with its key path.
void apply_yaml(std::string_view yaml, std::string_view file_name, const environment& env, settings& s,
                source_map& sources, std::vector<diagnostic>& errors);

// PGFUNNEL_* variables; an unknown PGFUNNEL_* name is a warning (with did-you-mean), not an error,
// since other tools may share the prefix.
void apply_env(const environment& env, settings& s, source_map& sources, std::vector<diagnostic>& errors,
               std::vector<diagnostic>& warnings);

void apply_flags(const cli_args& cli, settings& s, source_map& sources, std::vector<diagnostic>& errors);

// Checks that involve more than one key, located at the source of the key that has to change.
void check_cross_field(const settings& s, const source_map& sources, std::vector<diagnostic>& errors,
                       std::vector<diagnostic>& warnings);

// A diagnostic for `path`, located where that key's value came from (empty `where` for a default).
diagnostic at_source(const source_map& sources, const std::string& path, std::string message);

}  // namespace pgfunnel::config
