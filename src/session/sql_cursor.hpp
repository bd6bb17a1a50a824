// A tiny SQL reader for the exact statements the session layer recognises
// (DEALLOCATE, DISCARD, SET, RESET).
#pragma once

#include <cctype>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::session::detail {

struct sql_cursor {
  std::string_view s;
  std::size_t pos = 0;

  void skip_space() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) ++pos;
  }
  // A keyword followed by a non-identifier character (or the end).
  bool keyword(std::string_view kw) {
    if (s.size() - pos < kw.size()) return false;
    for (std::size_t i = 0; i < kw.size(); ++i)
      if (ascii_lower(s[pos + i]) != kw[i]) return false;
    const std::size_t end = pos + kw.size();
    if (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_' || s[end] == '$'))
      return false;
    pos = end;
    return true;
  }
  // An identifier as PostgreSQL reads it: unquoted folds to lower case,
  // "quoted" keeps case and turns "" into ". Empty optional on anything else.
  std::optional<std::string> identifier() {
    if (pos >= s.size()) return std::nullopt;
    std::string out;
    if (s[pos] == '"') {
      ++pos;
      for (;;) {
        if (pos >= s.size()) return std::nullopt;
        if (s[pos] == '"') {
          if (pos + 1 < s.size() && s[pos + 1] == '"') {
            out.push_back('"');
            pos += 2;
            continue;
          }
          ++pos;
          break;
        }
        out.push_back(s[pos++]);
      }
      if (out.empty()) return std::nullopt;  // "" is not a valid identifier
      return out;
    }
    const auto c0 = static_cast<unsigned char>(s[pos]);
    if (!(std::isalpha(c0) || c0 == '_' || c0 >= 0x80)) return std::nullopt;
    while (pos < s.size()) {
      const auto c = static_cast<unsigned char>(s[pos]);
      if (!(std::isalnum(c) || c == '_' || c == '$' || c >= 0x80)) break;
      out.push_back(ascii_lower(static_cast<char>(c)));
      ++pos;
    }
    return out;
  }
  // Optional whitespace, one optional semicolon, optional whitespace, then the
  // end.
  bool at_statement_end() {
    skip_space();
    if (pos < s.size() && s[pos] == ';') ++pos;
    skip_space();
    return pos == s.size();
  }
};

// Whether `word` (lower case) occurs in `sql`, ASCII case folded. It runs on every Query and Parse
// of the pooled listener, so it only tries positions where the first letter matches and folds
// without the C library (std::tolower alone was 6 % of pgfunnel's user-space CPU under pgbench -S).
inline bool mentions_word(std::string_view sql, std::string_view word) noexcept {
  if (word.empty() || sql.size() < word.size()) return false;
  const char first = word[0];
  const char first_upper = first >= 'a' && first <= 'z' ? static_cast<char>(first - 'a' + 'A') : first;
  const std::size_t last_start = sql.size() - word.size();
  for (std::size_t i = 0; i <= last_start; ++i) {
    if (sql[i] != first && sql[i] != first_upper) continue;
    std::size_t j = 1;
    while (j < word.size() && ascii_lower(sql[i + j]) == word[j]) ++j;
    if (j == word.size()) return true;
  }
  return false;
}

}  // namespace pgfunnel::session::detail
