// Failed-login throttling per client address (auth_failure_limit), sans-io with an injected clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgfunnel::auth {

// The limits in force; passed with every call, so a reload applies at once without a setter.
struct throttle_limits {
  unsigned failures = 10;                    // failed logins allowed per window; 0 = off
  std::chrono::milliseconds window{60'000};  // 0 = off
  bool enabled() const { return failures > 0 && window.count() > 0; }
};

// What check() says about a login that is about to start.
struct throttle_decision {
  bool refused = false;
  // Refused only: whether to log this refusal. Only the first refusal of an address in a window is
  // logged (the window ends its refusals), so an address hammering pgfunnel cannot flood the log.
  bool log = false;
  std::chrono::milliseconds retry_after{0};  // when the address may try again
};

// Per address, a window opens at its first failed login and counts the failures in it; once the
// count reaches the limit, logins from that address are refused until the window ends. So an
// address gets at most `failures` password guesses per `window`. Refused attempts do not count
// (they guessed nothing) and successful logins neither count nor reset the window (a known
// account must not become a way to reset it). Entries expire with their window.
//
// Thread-safe: logins on every worker thread share one instance.
class login_throttle {
 public:
  using clock = std::chrono::steady_clock;

  // At most `max_addresses` addresses are tracked: when full, expired entries are swept and, if
  // still full, one entry is dropped, so a spray from many addresses cannot grow memory unbounded.
  explicit login_throttle(std::size_t max_addresses = 100'000) : max_addresses_(max_addresses) {}

  // Whether a login from `address` may go on. Call when it starts, before any password is asked.
  throttle_decision check(std::string_view address, clock::time_point now, const throttle_limits& limits);
  // A failed password login (wrong password or unknown user) from `address`.
  void record_failure(std::string_view address, clock::time_point now, const throttle_limits& limits);

  // Addresses currently on record (expired ones may linger until touched or swept).
  std::size_t tracked() const;

 private:
  struct entry {
    clock::time_point window_start{};
    unsigned failures = 0;
    bool logged = false;  // a refusal in this window has been logged
  };
  static bool expired(const entry& e, clock::time_point now, const throttle_limits& limits) {
    return now - e.window_start >= limits.window;
  }
  void make_room(clock::time_point now, const throttle_limits& limits);  // mutex held

  mutable std::mutex mutex_;
  std::size_t max_addresses_;
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace pgfunnel::auth
