// All pools, one per (database, user), created on first use and shared by every listener and thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pgfunnel/pool/pool.hpp"

namespace pgfunnel::pool {

class registry {
 public:
  explicit registry(net::asio::io_context& io) : io_(io) {}
  ~registry();

  // The pool for (database, user), created with `make_login` (asked at each of its server logins)
  // and `settings` if it is new, with one more client attached (the caller detaches it when done).
  std::shared_ptr<pool> get(const std::string& database, const std::string& user, pool::login_source make_login,
                            const pool_settings& settings);
  std::vector<std::shared_ptr<pool>> all() const;
  // Whether any pool serves `database` (the admin console's names yield to a real one).
  bool has_database(const std::string& database) const;
  void stop_all();
  // Removes (and stops) the pools their upkeep found retirable and that still have no client;
  // returns how many. Run every second by the sweep loop that the first get() starts.
  std::size_t sweep();

 private:
  net::awaitable<void> sweep_loop();
  bool sweeping_ = false;  // mutex held
  net::asio::io_context& io_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<pool>> pools_;
};

}  // namespace pgfunnel::pool
