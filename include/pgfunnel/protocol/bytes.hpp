// Big-endian integer access and a bounds-checked reader over a message body; never reads past its span.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "pgfunnel/protocol/errc.hpp"

namespace pgfunnel::protocol {

using byte_span = std::span<const std::uint8_t>;

inline std::uint32_t load_u32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline std::uint16_t load_u16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline void store_u32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Reads fields front to back; the first failure sticks, so decoders check once at the end.
class body_reader {
 public:
  explicit body_reader(byte_span body) noexcept : data_(body) {}

  std::int32_t i32() noexcept {
    if (!need(4)) return 0;
    auto v = static_cast<std::int32_t>(load_u32(data_.data() + pos_));
    pos_ += 4;
    return v;
  }
  std::int16_t i16() noexcept {
    if (!need(2)) return 0;
    auto v = static_cast<std::int16_t>(load_u16(data_.data() + pos_));
    pos_ += 2;
    return v;
  }
  std::uint8_t u8() noexcept {
    if (!need(1)) return 0;
    return data_[pos_++];
  }
  // A NUL-terminated string; the view excludes the NUL.
  std::string_view cstring() noexcept {
    if (ec_) return {};
    const auto* begin = data_.data() + pos_;
    // memchr must not see a null pointer, which an empty span may hold, even with a zero size.
    const auto* nul =
        at_end() ? nullptr : static_cast<const std::uint8_t*>(std::memchr(begin, 0, remaining()));
    if (nul == nullptr) {
      ec_ = errc::missing_terminator;
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(begin), static_cast<std::size_t>(nul - begin));
    pos_ += s.size() + 1;
    return s;
  }
  byte_span bytes(std::size_t n) noexcept {
    if (!need(n)) return {};
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  byte_span rest() noexcept {
    auto s = data_.subspan(pos_);
    pos_ = data_.size();
    return s;
  }

  std::size_t remaining() const noexcept { return data_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == data_.size(); }
  std::error_code error() const noexcept { return ec_; }
  // The sticky error, or trailing_bytes when fields were read cleanly but bytes are left.
  std::error_code finish() const noexcept {
    if (ec_) return ec_;
    if (!at_end()) return errc::trailing_bytes;
    return {};
  }

 private:
  bool need(std::size_t n) noexcept {
    if (ec_) return false;
    if (data_.size() - pos_ < n) {
      ec_ = errc::truncated;
      return false;
    }
    return true;
  }

  byte_span data_;
  std::size_t pos_ = 0;
  std::error_code ec_;
};

}  // namespace pgfunnel::protocol
