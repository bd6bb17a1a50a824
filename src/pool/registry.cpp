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
  // Under the lock sweep() takes: a pool just handed out is never removed under its client.
  slot->attach_client();
  if (!sweeping_) {
    sweeping_ = true;
    net::asio::co_spawn(io_, sweep_loop(), net::asio::detached);
  }
  return slot;
}

std::size_t registry::sweep() {
  std::vector<std::shared_ptr<pool>> retired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = pools_.begin(); it != pools_.end();) {
      if (it->second->retirable() && it->second->attached_clients() == 0) {
        retired.push_back(std::move(it->second));
        it = pools_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& p : retired) {
    p->stop();
    log::info("pool {} removed: no client and no server (autodb_idle_timeout, or it never logged a server in)",
              p->name());
  }
  return retired.size();
}

net::awaitable<void> registry::sweep_loop() {
  net::asio::steady_timer timer(co_await net::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(net::use_nothrow);
    if (ec || io_.stopped()) co_return;
    sweep();
  }
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
