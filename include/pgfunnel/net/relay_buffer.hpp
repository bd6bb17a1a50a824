// Relay buffers: fixed blocks from a per-thread free list, held only while a client has a server.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pgfunnel::net {

class relay_buffer {
 public:
  static constexpr std::size_t capacity = 32 * 1024;

  relay_buffer() noexcept = default;
  ~relay_buffer() { release(); }
  relay_buffer(relay_buffer&& other) noexcept : data_(other.data_) { other.data_ = nullptr; }
  relay_buffer& operator=(relay_buffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = other.data_;
      other.data_ = nullptr;
    }
    return *this;
  }
  relay_buffer(const relay_buffer&) = delete;
  relay_buffer& operator=(const relay_buffer&) = delete;

  // Takes a block if none is held; idle clients hold none.
  void acquire();
  void release() noexcept;
  bool held() const noexcept { return data_ != nullptr; }
  std::uint8_t* data() noexcept { return data_; }

 private:
  std::uint8_t* data_ = nullptr;
};

}  // namespace pgfunnel::net
