// Walks message headers in a relayed byte stream without copying bodies: what may be forwarded now, what must wait.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include "pgfunnel/protocol/frame.hpp"
#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::session {

// One message header as the scanner meets it. `body` holds the whole body when `complete`;
// otherwise the message continues beyond this buffer and `body` is empty.
struct scanned_message {
  std::uint8_t tag;
  std::uint32_t length;
  protocol::byte_span body;
  bool complete;
};

// What to do with the buffer after a scan.
struct scan_result {
  std::size_t forward = 0;  // bytes [0, forward) may be sent on now
  std::size_t keep = 0;     // bytes [forward, forward + keep) must stay for the next read
  bool stopped = false;     // the visitor asked to stop at the message starting at `forward`
  std::error_code ec;       // a framing error: the stream is unusable
};

// Holds the only state a relay direction needs between reads: how much of the current message's
// body is still to come. Messages the visitor wants to see whole (`wants_whole(tag)`) and that fit
// `inspect_limit` are held back until complete; all others are forwarded as they arrive.
class stream_scanner {
 public:
  stream_scanner(protocol::direction d, std::uint32_t max_length, std::size_t inspect_limit) noexcept
      : reader_(protocol::phase::tagged, d, max_length), inspect_limit_(inspect_limit) {}

  // Visitor: bool wants_whole(uint8_t tag); bool on_message(const scanned_message&) (false = stop
  // before this message: it is neither consumed nor counted in `forward`).
  template <class Visitor>
  scan_result scan(protocol::byte_span buffer, Visitor&& visitor);

  // True between messages: no body bytes of a message are still owed.
  bool at_boundary() const noexcept { return body_remaining_ == 0; }
  std::uint64_t body_remaining() const noexcept { return body_remaining_; }
  void reset() noexcept { body_remaining_ = 0; }

 private:
  protocol::frame_reader reader_;
  std::size_t inspect_limit_;
  std::uint64_t body_remaining_ = 0;
};

template <class Visitor>
scan_result stream_scanner::scan(protocol::byte_span buffer, Visitor&& visitor) {
  scan_result r;
  std::size_t pos = 0;
  // Finish the body of a message that began in an earlier read.
  if (body_remaining_ > 0) {
    const std::size_t take = body_remaining_ < buffer.size() ? static_cast<std::size_t>(body_remaining_)
                                                             : buffer.size();
    body_remaining_ -= take;
    pos = take;
  }
  while (pos < buffer.size()) {
    const auto rest = buffer.subspan(pos);
    const auto header = reader_.peek_header(rest);
    if (header.status == protocol::frame_status::error) {
      r.ec = header.ec;
      r.forward = pos;
      return r;
    }
    if (header.status == protocol::frame_status::incomplete) {
      r.forward = pos;
      r.keep = rest.size();  // a split header: wait for the rest of it
      return r;
    }
    const auto& msg = header.msg;
    const bool complete = rest.size() >= msg.size;
    if (!complete && msg.size <= inspect_limit_ && visitor.wants_whole(msg.tag)) {
      r.forward = pos;
      r.keep = rest.size();
      return r;
    }
    scanned_message m{msg.tag, msg.length,
                      complete ? rest.subspan(protocol::tagged_header_size, msg.size - protocol::tagged_header_size)
                               : protocol::byte_span{},
                      complete};
    if (!visitor.on_message(m)) {
      r.forward = pos;
      r.stopped = true;
      return r;
    }
    if (complete) {
      pos += msg.size;
    } else {
      body_remaining_ = msg.size - rest.size();
      pos = buffer.size();
    }
  }
  r.forward = pos;
  return r;
}

}  // namespace pgfunnel::session
