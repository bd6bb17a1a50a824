// The frame reader: validates header and length, then hands back views into the caller's buffer.
#include "pgfunnel/protocol/frame.hpp"

#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::protocol {

frame_result frame_reader::peek_header(byte_span buffer) const noexcept {
  frame_result r;
  if (phase_ == phase::startup) {
    // The startup packet has no tag: its int32 length (counting itself) opens it.
    if (buffer.size() < 4) {
      r.needed = 4;
      return r;
    }
    const std::uint32_t length = load_u32(buffer.data());
    if (length < startup_header_size) return {frame_status::error, {}, 0, errc::length_too_short};
    if (length > max_startup_packet_length || length > max_length_)
      return {frame_status::error, {}, 0, errc::length_too_long};
    r.status = frame_status::complete;
    r.msg.length = length;
    r.msg.size = length;
    return r;
  }
  if (buffer.empty()) {
    r.needed = tagged_header_size;
    return r;
  }
  const std::uint8_t tag = buffer[0];
  const bool known = direction_ == direction::frontend ? is_frontend_tag(tag) : is_backend_tag(tag);
  if (!known) return {frame_status::error, {}, 0, errc::unknown_tag};
  if (buffer.size() < tagged_header_size) {
    r.needed = tagged_header_size;
    return r;
  }
  const std::uint32_t length = load_u32(buffer.data() + 1);
  if (length < 4) return {frame_status::error, {}, 0, errc::length_too_short};
  // The limit bounds the whole message, tag included (max_length_ - 1 would wrap around for 0).
  if (std::size_t{length} + 1 > max_length_) return {frame_status::error, {}, 0, errc::length_too_long};
  r.status = frame_status::complete;
  r.msg.tag = tag;
  r.msg.length = length;
  r.msg.size = std::size_t{length} + 1;
  return r;
}

frame_result frame_reader::next(byte_span buffer) const noexcept {
  frame_result r = peek_header(buffer);
  if (r.status != frame_status::complete) return r;
  if (buffer.size() < r.msg.size) {
    r.status = frame_status::incomplete;
    r.needed = r.msg.size;
    return r;
  }
  const std::size_t header = phase_ == phase::startup ? 4 : tagged_header_size;
  r.msg.body = buffer.subspan(header, r.msg.size - header);
  return r;
}

bool is_frontend_tag(std::uint8_t tag) noexcept {
  switch (tag) {
    case 'B': case 'C': case 'd': case 'c': case 'f': case 'D': case 'E':
    case 'H': case 'F': case 'P': case 'p': case 'Q': case 'S': case 'X':
      return true;
    default:
      return false;
  }
}

bool is_backend_tag(std::uint8_t tag) noexcept {
  switch (tag) {
    case 'R': case 'K': case '2': case '3': case 'C': case 'd': case 'c': case 'G':
    case 'H': case 'W': case 'D': case 'I': case 'E': case 'V': case 'v': case 'n':
    case 'N': case 'A': case 't': case 'S': case '1': case 's': case 'Z': case 'T':
      return true;
    default:
      return false;
  }
}

}  // namespace pgfunnel::protocol
