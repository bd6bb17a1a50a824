// "did you mean ...?" suggestions for misspelt keys, flags, env vars and enum values.
#include <algorithm>
#include <cctype>
#include <vector>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: a swapped pair of letters ("pool_szie") is one typo, not two.
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

namespace {

// "Listen-Pooled", "listen_pooled" and "listen.pooled" name the same thing to a human.
std::string fold(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '-' || c == '.') c = '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

std::optional<std::string> did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string w = fold(word);
  if (w.empty()) return std::nullopt;
  const std::string* best = nullptr;
  std::size_t best_distance = 0;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(w, fold(c));
    if (best == nullptr || d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  // A third of the word's length, at least 2: "pol_size" -> pool_size, but "verbose" suggests nothing.
  const std::size_t limit = std::max<std::size_t>(2, w.size() / 3);
  if (best == nullptr || best_distance > limit || best_distance >= w.size()) return std::nullopt;
  return *best;
}

}  // namespace pgfunnel::config
