// The pool's bookkeeping without I/O: idle servers, FIFO waiters, and how many connections to open.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

namespace pgfunnel::pool {

struct pool_limits {
  unsigned pool_size = 20;     // never more server connections than this, counting those still connecting
  unsigned min_pool_size = 0;  // keep at least this many open, idle or not
};

// Server and Waiter are opaque to the state: the Asio driver passes pointers to its own objects.
// Invariant: idle servers and waiting clients never coexist (a server that frees up goes to the
// oldest waiter first), so a client finding an idle server is never ahead of one queued before it.
// Only a PAUSE lets them coexist, until RESUME hands the idle servers to the oldest waiters.
template <class Server, class Waiter>
class pool_state {
 public:
  explicit pool_state(pool_limits limits) : limits_(limits) {}

  void set_limits(pool_limits limits) { limits_ = limits; }
  const pool_limits& limits() const { return limits_; }

  // A client wants a server: the most recently used idle one (warm caches), or nullptr once the
  // waiter is queued. The driver then calls connects_to_start().
  Server* acquire(Waiter* w) {
    if (Server* s = take_idle()) return s;
    waiters_.push_back(w);
    return nullptr;
  }

  // The most recently used idle server, leased; nullptr (and nothing queued) when none is idle.
  // The driver's fast path: no waiter needs to exist for it.
  Server* take_idle() {
    if (paused_ || idle_.empty()) return nullptr;
    Server* s = idle_.back();
    idle_.pop_back();
    ++active_;
    return s;
  }

  // The driver gave up on a waiter (timeout, client gone). False if it was no longer queued
  // (a server was granted to it meanwhile: the driver must then release that server).
  bool cancel_wait(Waiter* w) {
    auto it = std::find(waiters_.begin(), waiters_.end(), w);
    if (it == waiters_.end()) return false;
    waiters_.erase(it);
    return true;
  }

  // A leased server comes back reusable, or a new one finished its login. Returns the waiter it
  // now belongs to, or nullptr when it was parked idle.
  Waiter* release(Server* s) {
    --active_;
    return offer(s);
  }
  Waiter* connected(Server* s) {
    --connecting_;
    return offer(s);
  }

  // A leased server was closed instead of returned.
  void release_closed() { --active_; }

  // Closing takes a moment: PostgreSQL counts the backend until it has exited. A server being
  // closed still counts against pool_size until closed() says it is gone.
  void release_closing() {
    --active_;
    ++closing_;
  }
  void begin_close() { ++closing_; }
  void closed() { --closing_; }
  // A connection attempt failed.
  void connect_failed() { --connecting_; }

  // An idle server is being closed (idle timeout, lifetime, found dead). False if it is not idle.
  bool remove_idle(Server* s) {
    auto it = std::find(idle_.begin(), idle_.end(), s);
    if (it == idle_.end()) return false;
    idle_.erase(it);
    return true;
  }

  // New connections to open now (already counted as connecting): one per waiter not covered by a
  // connection under way, plus what min_pool_size asks for, never past pool_size.
  unsigned connects_to_start() {
    const unsigned total_now = total();
    const unsigned room = limits_.pool_size > total_now ? limits_.pool_size - total_now : 0;
    const unsigned for_waiters =
        !paused_ && waiters_.size() > connecting_ ? static_cast<unsigned>(waiters_.size()) - connecting_ : 0;
    const unsigned for_minimum = limits_.min_pool_size > total_now ? limits_.min_pool_size - total_now : 0;
    const unsigned n = std::min(room, std::max(for_waiters, for_minimum));
    connecting_ += n;
    return n;
  }

  // One connection for a reason other than a waiter (learning the server's parameters); false when
  // one is already under way or the pool is full.
  bool reserve_connect() {
    if (connecting_ > 0 || total() >= limits_.pool_size) return false;
    ++connecting_;
    return true;
  }

  // PAUSE: no server is handed out until resume(); clients queue, servers coming back or logging
  // in park idle, and connections are opened only for min_pool_size.
  void pause() { paused_ = true; }
  bool paused() const { return paused_; }
  // RESUME: the waiters that now get a server (oldest first, most recently used server first),
  // each counted active. The driver grants them, then calls connects_to_start() for the rest.
  std::vector<std::pair<Waiter*, Server*>> resume() {
    paused_ = false;
    std::vector<std::pair<Waiter*, Server*>> grants;
    while (!waiters_.empty() && !idle_.empty()) {
      grants.emplace_back(waiters_.front(), idle_.back());
      waiters_.pop_front();
      idle_.pop_back();
      ++active_;
    }
    return grants;
  }

  // Every queued waiter, removed: for failing them all when the upstream cannot be reached.
  std::vector<Waiter*> take_waiters() {
    std::vector<Waiter*> out(waiters_.begin(), waiters_.end());
    waiters_.clear();
    return out;
  }

  // Idle servers in least-recently-used order, for maintenance (idle timeout, lifetime).
  const std::vector<Server*>& idle() const { return idle_; }

  unsigned idle_count() const { return static_cast<unsigned>(idle_.size()); }
  unsigned active_count() const { return active_; }
  unsigned connecting_count() const { return connecting_; }
  unsigned waiting_count() const { return static_cast<unsigned>(waiters_.size()); }
  unsigned closing_count() const { return closing_; }
  unsigned total() const { return idle_count() + active_ + connecting_ + closing_; }

 private:
  Waiter* offer(Server* s) {
    if (!paused_ && !waiters_.empty()) {
      Waiter* w = waiters_.front();
      waiters_.pop_front();
      ++active_;
      return w;
    }
    idle_.push_back(s);
    return nullptr;
  }

  pool_limits limits_;
  std::vector<Server*> idle_;  // back = most recently used
  std::deque<Waiter*> waiters_;
  unsigned active_ = 0;
  unsigned connecting_ = 0;
  unsigned closing_ = 0;
  bool paused_ = false;
};

}  // namespace pgfunnel::pool
