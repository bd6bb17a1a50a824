// Failed-login throttling per client address: fixed windows opened by the first failure, bounded memory.
#include "pgfunnel/auth/login_throttle.hpp"

namespace pgfunnel::auth {

throttle_decision login_throttle::check(std::string_view address, clock::time_point now,
                                        const throttle_limits& limits) {
  throttle_decision d;
  if (!limits.enabled()) return d;
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(std::string(address));
  if (it == entries_.end()) return d;
  entry& e = it->second;
  if (expired(e, now, limits)) {
    entries_.erase(it);
    return d;
  }
  if (e.failures < limits.failures) return d;
  d.refused = true;
  d.retry_after = std::chrono::duration_cast<std::chrono::milliseconds>(e.window_start + limits.window - now);
  d.log = !e.logged;
  e.logged = true;
  return d;
}

void login_throttle::record_failure(std::string_view address, clock::time_point now, const throttle_limits& limits) {
  if (!limits.enabled()) return;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(address));
  if (it == entries_.end()) {
    make_room(now, limits);
    it = entries_.emplace(std::string(address), entry{}).first;
    it->second.window_start = now;
  } else if (expired(it->second, now, limits)) {
    it->second = entry{};
    it->second.window_start = now;
  }
  ++it->second.failures;
}

void login_throttle::make_room(clock::time_point now, const throttle_limits& limits) {
  if (entries_.size() < max_addresses_) return;
  std::erase_if(entries_, [&](const auto& kv) { return expired(kv.second, now, limits); });
  // Still full: forget one address rather than grow. Which one does not matter much; an attacker
  // with that many addresses gets around a per-address limit anyway.
  if (entries_.size() >= max_addresses_ && !entries_.empty()) entries_.erase(entries_.begin());
}

std::size_t login_throttle::tracked() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pgfunnel::auth
