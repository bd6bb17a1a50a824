// A tiny SQL reader for the exact statements the session layer recognises
// (DEALLOCATE, DISCARD, SET, RESET), and the splitter of a Query into statements.
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

inline bool identifier_char(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

// If a string, quoted identifier, comment or dollar quote starts at `i`, moves
// `i` past it and returns true; `open` is set when it runs to the end of `s`
// unterminated. Strings read as with standard_conforming_strings on (the
// default): backslashes escape only in E'…'.
inline bool skip_quoted(std::string_view s, std::size_t &i, bool &open) noexcept {
  const char c = s[i];
  if (c == '\'' || c == '"') {
    const bool escapes = c == '\'' && i > 0 && (s[i - 1] == 'e' || s[i - 1] == 'E') &&
                         (i == 1 || !identifier_char(s[i - 2]));
    for (std::size_t j = i + 1; j < s.size(); ++j) {
      if (escapes && s[j] == '\\') {
        ++j;
        continue;
      }
      if (s[j] == c) {
        if (j + 1 < s.size() && s[j + 1] == c) {
          ++j;
          continue;
        }
        i = j + 1;
        return true;
      }
    }
    open = true;
    i = s.size();
    return true;
  }
  if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
    const std::size_t nl = s.find('\n', i);
    i = nl == std::string_view::npos ? s.size() : nl + 1;
    return true;
  }
  if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
    int depth = 0;  // PostgreSQL's block comments nest
    for (std::size_t j = i; j + 1 < s.size(); ++j) {
      if (s[j] == '/' && s[j + 1] == '*') {
        ++depth;
        ++j;
      } else if (s[j] == '*' && s[j + 1] == '/') {
        ++j;
        if (--depth == 0) {
          i = j + 1;
          return true;
        }
      }
    }
    open = true;
    i = s.size();
    return true;
  }
  if (c == '$' && (i == 0 || !identifier_char(s[i - 1]))) {
    // $tag$ … $tag$; `$1` is a parameter, not a quote.
    std::size_t j = i + 1;
    if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) return false;
    while (j < s.size() && s[j] != '$' && identifier_char(s[j])) ++j;
    if (j >= s.size() || s[j] != '$') return false;
    const std::string_view tag = s.substr(i, j - i + 1);
    const std::size_t close = s.find(tag, j + 1);
    if (close == std::string_view::npos) {
      open = true;
      i = s.size();
    } else {
      i = close + tag.size();
    }
    return true;
  }
  return false;
}

// The next non-empty statement of a simple Query's text from `pos`, without its
// `;` and without the whitespace and comments around it; false when none is
// left. `open`: the text ends inside a quote or comment (the server then fails
// the whole query, so the split does not matter).
inline bool next_statement(std::string_view s, std::size_t &pos, std::string_view &out, bool &open) noexcept {
  while (pos < s.size()) {
    std::size_t start = std::string_view::npos, last = 0, i = pos;
    for (; i < s.size() && s[i] != ';';) {
      if (std::isspace(static_cast<unsigned char>(s[i]))) {
        ++i;
        continue;
      }
      const bool comment = (s[i] == '-' && i + 1 < s.size() && s[i + 1] == '-') ||
                           (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*');
      const std::size_t from = i;
      if (!skip_quoted(s, i, open)) ++i;
      if (comment) continue;
      if (start == std::string_view::npos) start = from;
      last = i;
    }
    pos = i < s.size() ? i + 1 : i;
    if (start != std::string_view::npos) {
      out = s.substr(start, last - start);
      return true;
    }
  }
  return false;
}

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
