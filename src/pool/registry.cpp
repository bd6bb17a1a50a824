// The pool registry: lazy creation under a mutex, so threads agree on one pool per key.
#include "pgfunnel/pool/registry.hpp"

namespace pgfunnel::pool {

registry::~registry() = default;

std::shared_ptr<pool> registry::get(const std::string& database, const std::string& user,
                                    pool::login_source make_login, const pool_settings& settings) {
  std::lock_guard lock(mutex_);
  auto& slot = pools_[{database, user}];
  if (!slot) {
    slot = std::make_shared<pool>(io_, database, user, std::move(make_login), settings);
    slot->start();
    log::info("pool {}/{} created (pool_size {})", database, user, settings.limits.pool_size);
  }
  return slot;
}

std::vector<std::shared_ptr<pool>> registry::all() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<pool>> out;
  for (const auto& [key, p] : pools_) out.push_back(p);
  return out;
}

bool registry::has_database(const std::string& database) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, p] : pools_)
    if (key.first == database) return true;
  return false;
}

void registry::stop_all() {
  for (auto& p : all()) p->stop();
}

}  // namespace pgfunnel::pool
