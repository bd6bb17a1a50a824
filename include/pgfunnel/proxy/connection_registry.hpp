// Every pooled client, for the admin console's SHOW CLIENTS, SHOW POOLS and KILL_CLIENT.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "pgfunnel/net/asio.hpp"

namespace pgfunnel::pool {
class pool;
}

namespace pgfunnel::proxy {

// A client's state as PgBouncer counts it: idle and linked clients are both "active" (cl_active),
// queued ones "waiting" (cl_waiting).
enum class client_state : std::uint8_t {
  idle,     // logged in, no request out
  waiting,  // a request waits for a server (queued in its pool)
  active,   // linked to a server
};

// One client, embedded in its session (no allocation) and linked into the registry from login to
// the session's end. The session writes the atomics (a few relaxed stores per transaction); the
// console reads them under the registry's mutex, which also keeps the strings and the socket
// alive while it reads: the session unlinks itself before either goes away.
struct client_entry {
  std::uint64_t id = 0;                   // the number of its log id c42
  const std::string* user = nullptr;      // the session's, fixed once logged in
  const std::string* database = nullptr;  // the session's, fixed once logged in
  std::string application_name;           // from its startup packet
  std::string tls;                        // "TLSv1.3/TLS_AES_256_GCM_SHA384"; empty in plaintext (SHOW's tls)
  const pool::pool* pool = nullptr;       // its pool; null on the admin console
  int fd = -1;                            // the client socket: addresses for SHOW, shutdown for KILL
  net::clock::time_point connected_at{};

  std::atomic<client_state> state{client_state::idle};
  std::atomic<std::int64_t> request_at{0};  // steady-clock ticks: the current or last request began (wait start)
  std::atomic<std::uint64_t> link{0};       // the number of the server it holds (s7 → 7), 0 when none
  std::atomic<std::uint32_t> prepared_statements{0};  // its named statements, as of its last lease
  std::atomic<bool> killed{false};                    // KILL or KILL_CLIENT ended it

  // Intrusive list: registration allocates nothing. Guarded by the registry's mutex.
  client_entry* prev = nullptr;
  client_entry* next = nullptr;
  bool linked = false;
};

class connection_registry {
 public:
  void add(client_entry& entry);
  void remove(client_entry& entry);  // no-op when not added

  // Calls `f` for every client, oldest first, under the registry's mutex: `f` may read the entry's
  // strings and socket but must not block or call back into the registry.
  void for_each(const std::function<void(const client_entry&)>& f) const;
  std::size_t size() const;

  // Ends a client: its socket's read side is shut down, so the session sees EOF wherever it waits,
  // cleans up its server as for a vanished client, and tells the client why. False: no such client.
  bool kill(std::uint64_t id);
  // Ends every client `match` selects; returns how many.
  std::size_t kill_if(const std::function<bool(const client_entry&)>& match);

 private:
  static void shut(client_entry& entry);

  mutable std::mutex mutex_;
  client_entry* head_ = nullptr;
  client_entry* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace pgfunnel::proxy
