// Cancel requests: pgfunnel's own keys for clients, mapped to the real key of the server each holds.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/protocol/decode.hpp"

namespace pgfunnel::proxy {

// Shared by a client session (which updates it on lease and release) and the registry (which a
// CancelRequest on another connection reads).
class cancel_target {
 public:
  struct server_key {
    protocol::backend_key_data key;
    net::tcp::endpoint endpoint;
  };

  void attach(const protocol::backend_key_data& key, const net::tcp::endpoint& endpoint);
  void detach();
  std::optional<server_key> current() const;

  // Cancels on their way to the server this client holds: the lease is not given up until they
  // have reached it, so a late cancel never hits the next client's query.
  std::atomic<int> in_flight{0};

 private:
  mutable std::mutex mutex_;
  std::optional<server_key> current_;
};

class cancel_registry {
 public:
  // A fresh (process id, secret) for a client's BackendKeyData.
  protocol::backend_key_data add(std::shared_ptr<cancel_target> target);
  void remove(const protocol::backend_key_data& key);
  std::shared_ptr<cancel_target> find(std::int32_t process_id, std::int32_t secret_key) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::int32_t, std::pair<std::int32_t, std::weak_ptr<cancel_target>>> entries_;
  std::int32_t next_pid_ = 0;
};

// Sends a CancelRequest for `key` on a new connection to `endpoint` and waits until the server has
// read it (it closes the connection then), at most `timeout`.
net::awaitable<net::error_code> send_cancel(net::tcp::endpoint endpoint, protocol::backend_key_data key,
                                            net::clock::duration timeout);

}  // namespace pgfunnel::proxy
