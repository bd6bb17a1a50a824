// The per-thread free list behind lease_scratch: no allocation per lease once warm.
#include "pgfunnel/session/lease_scratch.hpp"

#include <vector>

namespace pgfunnel::session {
namespace {

// Scratches freed on a thread are reused there; a bounded list keeps a burst from pinning memory.
struct free_list {
  static constexpr std::size_t max_cached = 256;
  std::vector<lease_scratch*> items;
  free_list() { alive = true; }
  ~free_list() {
    alive = false;
    for (auto* s : items) delete s;
  }
  // Trivially destructible, so it can still be read while the thread's other objects are destroyed
  // (a session freed at thread exit then deletes its scratch instead).
  static thread_local bool alive;
};
thread_local bool free_list::alive = false;
thread_local free_list cache;

}  // namespace

lease_scratch::lease_scratch(std::uint32_t max_message_size, std::size_t relay_capacity) noexcept
    : client_scan(protocol::direction::frontend, max_message_size, relay_capacity),
      server_scan(protocol::direction::backend, max_message_size, relay_capacity),
      relay_capacity(relay_capacity) {}

lease_scratch::ptr lease_scratch::take(std::uint32_t max_message_size, std::size_t relay_capacity) {
  free_list& list = cache;  // constructed on this thread's first lease
  if (!list.items.empty()) {
    lease_scratch* s = list.items.back();
    list.items.pop_back();
    // max_message_size may have changed by a reload since this scratch was last used.
    s->client_scan = stream_scanner(protocol::direction::frontend, max_message_size, relay_capacity);
    s->server_scan = stream_scanner(protocol::direction::backend, max_message_size, relay_capacity);
    s->relay_capacity = relay_capacity;
    return ptr(s);
  }
  return ptr(new lease_scratch(max_message_size, relay_capacity));
}

void lease_scratch::give_back::operator()(lease_scratch* s) const noexcept {
  // Cleared now, not on take: the rewriter refers to the session's and the server's statement
  // maps, which may be gone by then.
  s->rewriter.reset();
  s->settings.clear();
  s->resets.clear();
  s->tracker = {};
  s->in_have = s->out_have = 0;
  for (std::string* str :
       {&s->to_server, &s->synthetic, &s->after, &s->in_scratch, &s->out_scratch, &s->big_in, &s->big_out})
    s->drop_if_grown(*str);
  // `cache` is touched only while it is alive: referring to it first would construct it anew.
  if (free_list::alive && cache.items.size() < free_list::max_cached) {
    try {
      cache.items.push_back(s);
      return;
    } catch (...) {
    }
  }
  delete s;
}

}  // namespace pgfunnel::session
