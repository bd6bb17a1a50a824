// Durations ("30s", "250ms", bare number = seconds), sizes ("64MB", 1kB = 1024) and bounded counts.
#include <array>
#include <cctype>
#include <limits>

#include <fmt/format.h>

#include "pgfunnel/config/parse.hpp"
#include "pgfunnel/session/parameters.hpp"  // iequals: ASCII case-insensitive, as GUC names compare

namespace pgfunnel::config {

namespace {

using session::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Leading decimal digits of `s` as a number; `s` keeps the rest. nullopt: no digits or overflow
// (`overflow` tells which, so "99999999999999999999s" says "too large" rather than "not a duration").
std::optional<std::uint64_t> take_number(std::string_view& s, bool& overflow) {
  overflow = false;
  std::size_t i = 0;
  std::uint64_t v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    const unsigned digit = static_cast<unsigned>(s[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) overflow = true;
    else v = v * 10 + digit;
    ++i;
  }
  if (i == 0 || overflow) return std::nullopt;
  s.remove_prefix(i);
  s = trim(s);  // "30 s" is accepted, as PostgreSQL does
  return v;
}

struct unit {
  std::string_view name;
  std::uint64_t factor;
};

// "<number><unit>" with the checks durations and sizes share: not negative, digits present, no
// overflow. `what` and `hint` word the error; the unit is left for the caller to look up.
struct quantity {
  std::uint64_t number;
  std::string_view unit;
};
std::optional<quantity> take_quantity(std::string_view text, std::string_view what, std::string_view hint,
                                      std::string& error) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '-') {
    error = "must not be negative";
    return std::nullopt;
  }
  bool overflow = false;
  const auto n = take_number(s, overflow);
  if (!n) {
    error = overflow ? "is too large" : fmt::format("'{}' is not a {} ({})", text, what, hint);
    return std::nullopt;
  }
  return quantity{*n, s};
}

// Ordered largest first so formatting picks the largest exact unit.
constexpr std::array duration_units{unit{"d", 86'400'000}, unit{"h", 3'600'000}, unit{"m", 60'000},
                                    unit{"s", 1'000}, unit{"ms", 1}};
constexpr std::array size_units{unit{"TB", 1ull << 40}, unit{"GB", 1ull << 30}, unit{"MB", 1ull << 20},
                                unit{"kB", 1ull << 10}, unit{"B", 1}};

}  // namespace

std::optional<duration> parse_duration(std::string_view text, std::string& error) {
  const std::string_view hint = "use e.g. 30s, 5m, 1h, 250ms, 2d; a bare number means seconds";
  const auto q = take_quantity(text, "duration", hint, error);
  if (!q) return std::nullopt;
  const std::string_view s = q->unit;
  std::uint64_t factor = 0;
  if (s.empty()) factor = 1000;
  else if (s == "min") factor = 60'000;
  else
    for (const auto& u : duration_units)
      if (s == u.name) factor = u.factor;
  if (factor == 0) {
    error = fmt::format("unknown duration unit '{}' ({})", s, hint);
    return std::nullopt;
  }
  if (q->number > static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max()) / factor) {
    error = "is too large";
    return std::nullopt;
  }
  return duration(static_cast<duration::rep>(q->number * factor));
}

std::string format_duration(duration d) {
  const auto ms = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
  if (ms == 0) return "0";
  for (const auto& u : duration_units)
    if (ms % u.factor == 0) return fmt::format("{}{}", ms / u.factor, u.name);
  return fmt::format("{}ms", ms);
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string& error) {
  const std::string_view hint = "use e.g. 512, 8kB, 64MB, 1GB; 1kB = 1024 bytes";
  const auto q = take_quantity(text, "size", hint, error);
  if (!q) return std::nullopt;
  const std::string_view s = q->unit;
  std::uint64_t factor = 0;
  if (s.empty()) factor = 1;
  for (const auto& u : size_units) {
    // Case does not matter ("8KB", "8kb"), and the KiB spellings mean the same powers of two.
    const std::string iec = u.name.size() == 2 ? fmt::format("{}iB", u.name[0]) : std::string(u.name);
    if (iequals(s, u.name) || iequals(s, iec)) factor = u.factor;
  }
  if (factor == 0) {
    error = fmt::format("unknown size unit '{}' ({})", s, hint);
    return std::nullopt;
  }
  if (q->number > std::numeric_limits<std::uint64_t>::max() / factor) {
    error = "is too large";
    return std::nullopt;
  }
  return q->number * factor;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  for (const auto& u : size_units)
    if (u.factor > 1 && bytes % u.factor == 0) return fmt::format("{}{}", bytes / u.factor, u.name);
  return fmt::format("{}", bytes);
}

std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t lo, std::uint64_t hi,
                                         std::string& error) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '-' && s.size() > 1 && std::isdigit(static_cast<unsigned char>(s[1]))) {
    error = fmt::format("must be at least {}", lo);
    return std::nullopt;
  }
  bool overflow = false;
  const auto n = take_number(s, overflow);
  if (overflow) {
    error = fmt::format("must be at most {}", hi);
    return std::nullopt;
  }
  if (!n || !s.empty()) {
    error = fmt::format("expected a whole number, got '{}'", text);
    return std::nullopt;
  }
  if (*n < lo) {
    error = fmt::format("must be at least {}", lo);
    return std::nullopt;
  }
  if (*n > hi) {
    error = fmt::format("must be at most {}", hi);
    return std::nullopt;
  }
  return n;
}

}  // namespace pgfunnel::config
