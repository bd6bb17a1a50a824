// ${VAR} / ${VAR:-default} / $$ expansion of YAML scalars from the environment.
#include <cctype>

#include <fmt/format.h>

#include "pgfunnel/config/load.hpp"
#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {

namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// Index of the '}' closing the "${" at `open`, counting nested "${" so a default may hold one.
std::size_t matching_brace(std::string_view s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      ++depth;
      ++i;
    } else if (s[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Appends the expansion of `text` to `out`; unset names go to `missing` so one message can list them all.
bool expand_into(std::string_view text, const environment& env, std::string& out,
                 std::vector<std::string>& missing, std::string& error) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c != '$' || (next != '$' && next != '{')) {
      out += c;  // a lone '$' is literal: SCRAM verifiers are full of them
      continue;
    }
    if (next == '$') {
      out += '$';
      ++i;
      continue;
    }
    const std::size_t close = matching_brace(text, i);
    if (close == std::string_view::npos) {
      error = fmt::format("unterminated '${{' in '{}' (close it with '}}', or write '$$' for a literal '$')", text);
      return false;
    }
    const std::string_view body = text.substr(i + 2, close - i - 2);
    const auto sep = body.find(":-");
    const std::string_view name = body.substr(0, sep);
    if (!valid_name(name)) {
      error = fmt::format("bad variable reference '${{{}}}' (use ${{NAME}} or ${{NAME:-default}})", body);
      return false;
    }
    const auto value = env.get(name);
    if (sep != std::string_view::npos) {
      // Shell semantics: the default also covers a variable set to "".
      if (value && !value->empty()) out += *value;
      else if (!expand_into(body.substr(sep + 2), env, out, missing, error)) return false;
    } else if (value) {
      out += *value;
    } else {
      missing.emplace_back(name);
    }
    i = close;
  }
  return true;
}

}  // namespace

std::optional<std::string> expand_env(std::string_view text, const environment& env, std::string& error) {
  std::string out;
  std::vector<std::string> missing;
  if (!expand_into(text, env, out, missing, error)) return std::nullopt;
  if (missing.size() == 1) {
    error = fmt::format("environment variable {0} is not set (write ${{{0}:-default}} to give a fallback)",
                        missing.front());
    return std::nullopt;
  }
  if (!missing.empty()) {
    error = fmt::format("environment variables {} are not set", fmt::join(missing, ", "));
    return std::nullopt;
  }
  return out;
}

}  // namespace pgfunnel::config
