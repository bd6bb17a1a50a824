// Splits a byte stream into protocol messages, in place: the startup phase (untagged) and the tagged phase.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "pgfunnel/protocol/bytes.hpp"

namespace pgfunnel::protocol {

enum class phase : std::uint8_t {
  startup,  // int32 length, then body (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest)
  tagged,   // tag byte, int32 length, then body
};

// Which side's tag set to accept in the tagged phase (an unknown tag is a protocol violation).
enum class direction : std::uint8_t { frontend, backend };

// One message at the front of a buffer. `body` excludes tag and length; `size` is the whole message.
struct frame {
  std::uint8_t tag = 0;  // 0 for startup-phase packets
  std::uint32_t length = 0;  // the length field as sent (it counts itself)
  byte_span body;
  std::size_t size = 0;
};

// What the reader knows about the front of a buffer.
struct frame_header {
  std::uint8_t tag = 0;
  std::uint32_t length = 0;
  std::size_t size = 0;  // header + body, in bytes
};

enum class frame_status : std::uint8_t {
  complete,    // `frame` is valid
  incomplete,  // `needed` says how many bytes in total the buffer must hold (the header size while
               // the header itself is incomplete: 4 in the startup phase, 5 in the tagged phase)
  error,       // `ec` says why; the stream cannot be resynchronised
};

struct frame_result {
  frame_status status = frame_status::incomplete;
  frame msg;
  std::size_t needed = 0;
  std::error_code ec;
};

class frame_reader {
 public:
  // max_length: the largest whole message accepted, in bytes, header (and tag) included.
  frame_reader(phase p, direction d, std::uint32_t max_length) noexcept
      : phase_(p), direction_(d), max_length_(max_length) {}

  // Reads only the header at the front of `buffer`: enough to route or skip a message whose body
  // has not fully arrived. status is complete when the header is valid (the body may still be partial).
  frame_result peek_header(byte_span buffer) const noexcept;

  // The whole message at the front of `buffer`, when all of it is there.
  frame_result next(byte_span buffer) const noexcept;

  void set_phase(phase p) noexcept { phase_ = p; }
  phase current_phase() const noexcept { return phase_; }
  std::uint32_t max_length() const noexcept { return max_length_; }

 private:
  phase phase_;
  direction direction_;
  std::uint32_t max_length_;
};

}  // namespace pgfunnel::protocol
