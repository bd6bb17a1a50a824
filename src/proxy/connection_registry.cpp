// The pooled-client registry: an intrusive list under one mutex, walked by the admin console.
#include "pgfunnel/proxy/connection_registry.hpp"

#include <sys/socket.h>

namespace pgfunnel::proxy {

void connection_registry::add(client_entry& entry) {
  std::lock_guard lock(mutex_);
  if (entry.linked) return;
  entry.prev = tail_;
  entry.next = nullptr;
  if (tail_ != nullptr)
    tail_->next = &entry;
  else
    head_ = &entry;
  tail_ = &entry;
  entry.linked = true;
  ++size_;
}

void connection_registry::remove(client_entry& entry) {
  std::lock_guard lock(mutex_);
  if (!entry.linked) return;
  if (entry.prev != nullptr)
    entry.prev->next = entry.next;
  else
    head_ = entry.next;
  if (entry.next != nullptr)
    entry.next->prev = entry.prev;
  else
    tail_ = entry.prev;
  entry.prev = entry.next = nullptr;
  entry.linked = false;
  --size_;
}

void connection_registry::for_each(const std::function<void(const client_entry&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const client_entry* e = head_; e != nullptr; e = e->next) f(*e);
}

std::size_t connection_registry::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

void connection_registry::shut(client_entry& entry) {
  entry.killed.store(true, std::memory_order_relaxed);
  // Only the read side: the session wakes with EOF wherever it waits for the client and ends in
  // order (rollback, release); it can still write the client its FATAL. The descriptor is open for
  // as long as the entry is linked (the session unlinks before its socket closes).
  ::shutdown(entry.fd, SHUT_RD);
}

bool connection_registry::kill(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  for (client_entry* e = head_; e != nullptr; e = e->next) {
    if (e->id == id) {
      shut(*e);
      return true;
    }
  }
  return false;
}

std::size_t connection_registry::kill_if(const std::function<bool(const client_entry&)>& match) {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (client_entry* e = head_; e != nullptr; e = e->next) {
    if (match(*e)) {
      shut(*e);
      ++n;
    }
  }
  return n;
}

}  // namespace pgfunnel::proxy
