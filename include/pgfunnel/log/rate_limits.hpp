// Log-volume guards: at most one warning per interval for an event kind, and the connection-churn detector.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace pgfunnel::log {

using steady = std::chrono::steady_clock;

// An exhaustion event (pool timeout, max_client_conn, upstream 53300) can happen thousands of times
// a second; the log gets one line per interval that says how many were folded into it.
class rate_limiter {
 public:
  explicit rate_limiter(std::chrono::milliseconds interval = std::chrono::seconds(10)) : interval_(interval) {}

  // Call at every event. Returns the number of events suppressed since the last line when this one
  // should be logged, nothing when it should not.
  std::optional<std::uint64_t> allow(steady::time_point now) {
    std::lock_guard lock(mutex_);
    if (logged_once_ && now - last_ < interval_) {
      ++suppressed_;
      return std::nullopt;
    }
    logged_once_ = true;
    last_ = now;
    const std::uint64_t folded = suppressed_;
    suppressed_ = 0;
    return folded;
  }

 private:
  std::mutex mutex_;
  std::chrono::milliseconds interval_;
  steady::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t suppressed_ = 0;
};

// Serverless code that builds its database client inside the request handler opens a connection
// per request. Counted per application_name over a sliding window: above `per_second` on average,
// one warning per application per `quiet` period.
class churn_detector {
 public:
  static constexpr std::chrono::seconds window{10};
  static constexpr std::chrono::seconds quiet{60};

  explicit churn_detector(unsigned per_second = 0) : per_second_(per_second) {}
  void set_rate(unsigned per_second) {
    std::lock_guard lock(mutex_);
    per_second_ = per_second;
  }

  // A login by `application_name`. Returns the connections seen in the window when a warning is
  // due.
  std::optional<std::size_t> on_connect(std::string_view application_name, steady::time_point now) {
    std::lock_guard lock(mutex_);
    if (per_second_ == 0) return std::nullopt;
    auto& app = apps_[std::string(application_name)];
    app.times.push_back(now);
    while (!app.times.empty() && now - app.times.front() > window) app.times.pop_front();
    const std::size_t limit = static_cast<std::size_t>(per_second_) * window.count();
    if (app.times.size() <= limit) return std::nullopt;
    if (app.warned && now - app.last_warning < quiet) return std::nullopt;
    app.warned = true;
    app.last_warning = now;
    return app.times.size();
  }

 private:
  struct app_state {
    std::deque<steady::time_point> times;
    steady::time_point last_warning{};
    bool warned = false;
  };
  std::mutex mutex_;
  unsigned per_second_;
  std::map<std::string, app_state, std::less<>> apps_;
};

}  // namespace pgfunnel::log
