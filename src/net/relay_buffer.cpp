// The per-thread free list behind relay buffers: no allocation per lease once warm.
#include "pgfunnel/net/relay_buffer.hpp"

#include <vector>

namespace pgfunnel::net {
namespace {

// Blocks freed on a thread are reused there; a bounded list keeps a burst from pinning memory.
struct free_list {
  static constexpr std::size_t max_cached = 256;
  std::vector<std::uint8_t*> blocks;
  ~free_list() {
    for (auto* b : blocks) delete[] b;
  }
};
thread_local free_list cache;

}  // namespace

void relay_buffer::acquire() {
  if (data_ != nullptr) return;
  if (!cache.blocks.empty()) {
    data_ = cache.blocks.back();
    cache.blocks.pop_back();
  } else {
    data_ = new std::uint8_t[capacity];
  }
}

void relay_buffer::release() noexcept {
  if (data_ == nullptr) return;
  if (cache.blocks.size() < free_list::max_cached) {
    try {
      cache.blocks.push_back(data_);
    } catch (...) {
      delete[] data_;
    }
  } else {
    delete[] data_;
  }
  data_ = nullptr;
}

}  // namespace pgfunnel::net
