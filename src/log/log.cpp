// The spdlog set-up behind pgfunnel::log: one sync logger, a formatter for text or JSON lines.
#include "pgfunnel/log/log.hpp"

#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>

#include <spdlog/formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace pgfunnel::log {
namespace {

// The ids of the line being written. The logger is synchronous, so the formatter runs on the
// calling thread inside detail::write(); that is what lets ids reach it without a payload encoding.
thread_local const conn_ids* current_ids = nullptr;

spdlog::level::level_enum to_spdlog(level lvl) {
  switch (lvl) {
    case level::trace: return spdlog::level::trace;
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warn: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    case level::critical: return spdlog::level::critical;
    case level::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

level from_spdlog(spdlog::level::level_enum lvl) {
  switch (lvl) {
    case spdlog::level::trace: return level::trace;
    case spdlog::level::debug: return level::debug;
    case spdlog::level::info: return level::info;
    case spdlog::level::warn: return level::warn;
    case spdlog::level::err: return level::error;
    case spdlog::level::critical: return level::critical;
    default: return level::off;
  }
}

std::string_view id_key(char kind) {
  switch (kind) {
    case 'c': return "client";
    case 's': return "server";
    default: return "conn";
  }
}

// Text lines must stay one line per record: a client-supplied newline would forge log lines.
void append_text_escaped(std::string& out, std::string_view s) {
  for (unsigned char ch : s) {
    switch (ch) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += '\t'; break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          fmt::format_to(std::back_inserter(out), "\\x{:02x}", ch);
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
}

class line_formatter final : public spdlog::formatter {
 public:
  explicit line_formatter(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // One scratch string per thread keeps the per-line cost to the copy into dest.
    thread_local std::string line;
    line.clear();
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const level lvl = from_spdlog(msg.level);
    const conn_ids* ids = current_ids;
    if (json_) {
      line += "{\"ts\":\"";
      append_time(line, msg.time, true);
      line += "\",\"level\":\"";
      line += to_string(lvl);
      line += "\",\"msg\":\"";
      append_json_escaped(line, payload);
      line += '"';
      if (ids != nullptr) {
        for (const auto& id : {ids->first, ids->second}) {
          if (!id) continue;
          fmt::format_to(std::back_inserter(line), ",\"{}\":\"{}\"", id_key(id->kind), *id);
        }
      }
      line += "}\n";
    } else {
      append_time(line, msg.time, false);
      fmt::format_to(std::back_inserter(line), " {:<5} ", to_string(lvl));
      if (ids != nullptr && !ids->empty()) {
        line += '[';
        if (ids->first) fmt::format_to(std::back_inserter(line), "{}", *ids->first);
        if (ids->first && ids->second) line += ' ';
        if (ids->second) fmt::format_to(std::back_inserter(line), "{}", *ids->second);
        line += "] ";
      }
      append_text_escaped(line, payload);
      line += '\n';
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(json_);
  }

 private:
  // Text: local time "2026-11-27 13:21:28.123"; JSON: UTC ISO 8601 "2026-11-27T13:21:28.123Z",
  // which log collectors parse without knowing the host's zone.
  static void append_time(std::string& out, std::chrono::system_clock::time_point tp, bool utc) {
    const auto since_epoch = tp.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
    const std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    if (utc) {
      gmtime_r(&t, &tm);
    } else {
      localtime_r(&t, &tm);
    }
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}.{:03}{}",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, utc ? 'T' : ' ', tm.tm_hour,
                   tm.tm_min, tm.tm_sec, millis, utc ? "Z" : "");
  }

  bool json_;
};

std::mutex setup_mutex;
std::shared_ptr<spdlog::logger> the_logger;  // guarded by setup_mutex for replacement

level checked_level(std::string_view name) {
  auto lvl = parse_level(name);
  if (!lvl) throw std::invalid_argument("unknown log level: " + std::string(name));
  return *lvl;
}

void install(spdlog::sink_ptr sink, level lvl, bool json) {
  auto logger = std::make_shared<spdlog::logger>("pgfunnel", std::move(sink));
  logger->set_formatter(std::make_unique<line_formatter>(json));
  logger->set_level(to_spdlog(lvl));
  logger->flush_on(spdlog::level::err);
  std::lock_guard lock(setup_mutex);
  the_logger = logger;
  // As the default logger, direct spdlog::info(...) calls elsewhere get the same format and sink.
  spdlog::set_default_logger(logger);
  detail::min_level.store(static_cast<int>(lvl), std::memory_order_relaxed);
}

spdlog::logger& logger() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::lock_guard lock(setup_mutex);
    if (the_logger) return;
    auto logger = std::make_shared<spdlog::logger>(
        "pgfunnel", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_formatter(std::make_unique<line_formatter>(false));
    logger->set_level(to_spdlog(static_cast<level>(detail::min_level.load())));
    the_logger = logger;
    spdlog::set_default_logger(logger);
  });
  return *spdlog::default_logger_raw();
}

}  // namespace

std::optional<level> parse_level(std::string_view name) {
  std::string lower;
  lower.reserve(name.size());
  for (char ch : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static constexpr std::array<std::pair<std::string_view, level>, 8> names{{
      {"trace", level::trace},
      {"debug", level::debug},
      {"info", level::info},
      {"warn", level::warn},
      {"warning", level::warn},
      {"error", level::error},
      {"critical", level::critical},
      {"off", level::off},
  }};
  for (const auto& [n, lvl] : names) {
    if (n == lower) return lvl;
  }
  return std::nullopt;
}

std::string_view to_string(level lvl) {
  switch (lvl) {
    case level::trace: return "trace";
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::critical: return "critical";
    case level::off: return "off";
  }
  return "unknown";
}

std::string to_string(conn_id id) { return fmt::format("{}", id); }

void init(std::string_view level_name, bool json) {
  install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), checked_level(level_name), json);
}

void init_for_test(std::ostream& out, std::string_view level_name, bool json) {
  install(std::make_shared<spdlog::sinks::ostream_sink_mt>(out, /*force_flush=*/true),
          checked_level(level_name), json);
}

bool set_level(std::string_view level_name) {
  auto lvl = parse_level(level_name);
  if (!lvl) return false;
  logger().set_level(to_spdlog(*lvl));
  detail::min_level.store(static_cast<int>(*lvl), std::memory_order_relaxed);
  return true;
}

level current_level() { return static_cast<level>(detail::min_level.load(std::memory_order_relaxed)); }

void flush() { logger().flush(); }

void append_json_escaped(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char ch = *p;
    if (ch < 0x80) {
      switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (ch < 0x20 || ch == 0x7f) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", ch);
          } else {
            out += static_cast<char>(ch);
          }
      }
      ++p;
      continue;
    }
    // A well-formed UTF-8 sequence is copied as is; anything else becomes U+FFFD, byte by byte.
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((ch & 0xE0) == 0xC0) {
      len = 2;
      cp = ch & 0x1F;
    } else if ((ch & 0xF0) == 0xE0) {
      len = 3;
      cp = ch & 0x0F;
    } else if ((ch & 0xF8) == 0xF0) {
      len = 4;
      cp = ch & 0x07;
    }
    bool ok = len != 0 && static_cast<std::size_t>(end - p) >= len;
    for (std::size_t i = 1; ok && i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (p[i] & 0x3F);
      }
    }
    // Reject overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if (ok) {
      static constexpr std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min_cp[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(reinterpret_cast<const char*>(p), len);
      p += len;
    } else {
      out += "\\ufffd";
      ++p;
    }
  }
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  append_json_escaped(out, s);
  return out;
}

namespace detail {
void write(level lvl, const conn_ids& ids, std::string_view msg) {
  spdlog::logger& l = logger();
  const conn_ids* saved = current_ids;
  current_ids = &ids;
  // spdlog catches formatter/sink exceptions itself, so current_ids is always restored.
  l.log(to_spdlog(lvl), spdlog::string_view_t(msg.data(), msg.size()));
  current_ids = saved;
}
}  // namespace detail

}  // namespace pgfunnel::log
