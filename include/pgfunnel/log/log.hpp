// Logging facade over spdlog: text or JSON lines on stderr, with client/server connection ids.
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace pgfunnel::log {

// Severity, lowest first. Names in output: trace debug info warn error critical.
enum class level : int { trace = 0, debug, info, warn, error, critical, off };

// "trace" | "debug" | "info" | "warn" ("warning") | "error" | "critical" | "off", case-insensitive.
std::optional<level> parse_level(std::string_view name);
std::string_view to_string(level lvl);

// (Re)configures the process-wide logger writing to stderr. Throws std::invalid_argument on an
// unknown level. Logging before init() writes text at info to stderr.
void init(std::string_view level_name, bool json);
// Same, but writes to `out` (flushed per line) so tests can read what was logged.
void init_for_test(std::ostream& out, std::string_view level_name, bool json);
// Changes the level at run time (e.g. on reload); false, and no change, for an unknown name.
bool set_level(std::string_view level_name);
level current_level();
void flush();

// A connection's id as it appears in logs: kind 'c' (client) or 's' (server) plus a counter: c42, s7.
struct conn_id {
  char kind = 'c';
  std::uint64_t n = 0;
  friend bool operator==(const conn_id&, const conn_id&) = default;
};
inline conn_id client_id(std::uint64_t n) { return {'c', n}; }
inline conn_id server_id(std::uint64_t n) { return {'s', n}; }
std::string to_string(conn_id id);

// Up to two ids attached to one log line: text "[c42 s7] msg", JSON "client":"c42","server":"s7".
// Implicit from a single conn_id so `log::info(cid, "...")` works.
struct conn_ids {
  std::optional<conn_id> first;
  std::optional<conn_id> second;
  conn_ids() = default;
  conn_ids(conn_id a) : first(a) {}  // NOLINT(google-explicit-constructor)
  conn_ids(conn_id a, conn_id b) : first(a), second(b) {}
  conn_ids(std::optional<conn_id> a, std::optional<conn_id> b) : first(a), second(b) {}
  bool empty() const { return !first && !second; }
};

// JSON string body escaping (no surrounding quotes): quotes, backslash, control characters, and
// invalid UTF-8 (replaced by U+FFFD) so every JSON line parses whatever bytes a client sent us.
void append_json_escaped(std::string& out, std::string_view s);
std::string json_escape(std::string_view s);

namespace detail {
// Mirrors the logger's level so the disabled path is one relaxed load and no formatting.
inline std::atomic<int> min_level{static_cast<int>(level::info)};
void write(level lvl, const conn_ids& ids, std::string_view msg);
}  // namespace detail

inline bool should_log(level lvl) {
  return static_cast<int>(lvl) >= detail::min_level.load(std::memory_order_relaxed) && lvl != level::off;
}

template <typename... Args>
void log(level lvl, const conn_ids& ids, fmt::format_string<Args...> f, Args&&... args) {
  if (!should_log(lvl)) return;
  fmt::memory_buffer buf;
  fmt::vformat_to(std::back_inserter(buf), f, fmt::make_format_args(args...));
  detail::write(lvl, ids, std::string_view(buf.data(), buf.size()));
}

#define PGFUNNEL_LOG_LEVEL_FN(name)                                                        \
  template <typename... Args>                                                              \
  void name(fmt::format_string<Args...> f, Args&&... args) {                               \
    log(level::name, conn_ids{}, f, std::forward<Args>(args)...);                          \
  }                                                                                        \
  template <typename... Args>                                                              \
  void name(const conn_ids& ids, fmt::format_string<Args...> f, Args&&... args) {          \
    log(level::name, ids, f, std::forward<Args>(args)...);                                 \
  }
PGFUNNEL_LOG_LEVEL_FN(trace)
PGFUNNEL_LOG_LEVEL_FN(debug)
PGFUNNEL_LOG_LEVEL_FN(info)
PGFUNNEL_LOG_LEVEL_FN(warn)
PGFUNNEL_LOG_LEVEL_FN(error)
PGFUNNEL_LOG_LEVEL_FN(critical)
#undef PGFUNNEL_LOG_LEVEL_FN

}  // namespace pgfunnel::log

template <>
struct fmt::formatter<pgfunnel::log::conn_id> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <typename FormatContext>
  auto format(const pgfunnel::log::conn_id& id, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "{}{}", id.kind, id.n);
  }
};
