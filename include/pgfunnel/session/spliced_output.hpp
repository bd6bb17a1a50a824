// The bytes to relay from one scanned buffer when some messages are rewritten:
// the buffer itself until the first edit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgfunnel/protocol/frame.hpp"

namespace pgfunnel::session {

// Most buffers go out untouched, straight from the read buffer. The first edit
// copies what came before it into `scratch`; from then on the output is built
// there. Edits come in buffer order.
class spliced_output {
 public:
  explicit spliced_output(std::string &scratch) noexcept : scratch_(scratch) {}

  void start(protocol::byte_span buffer) noexcept {
    buffer_ = buffer;
    copied_ = 0;
    edited_ = false;
    scratch_.clear();
  }

  // The message at [begin, end) of the buffer becomes `before`, then the
  // message itself when `keep`, then `after`.
  void edit(std::size_t begin, std::size_t end, std::string_view before, bool keep, std::string_view after) {
    if (!edited_) {
      edited_ = true;
      scratch_.clear();
    }
    scratch_.append(chars(copied_, begin));
    scratch_.append(before);
    if (keep) scratch_.append(chars(begin, end));
    scratch_.append(after);
    copied_ = end;
  }

  // Bytes not taken from the buffer at all (a message read outside it),
  // appended in order.
  void append(std::string_view bytes) {
    if (!edited_) {
      edited_ = true;
      scratch_.clear();
    }
    scratch_.append(bytes);
  }

  bool edited() const noexcept { return edited_; }

  // What to send for buffer bytes [0, forward).
  std::string_view finish(std::size_t forward) {
    if (!edited_) return chars(0, forward);
    scratch_.append(chars(copied_, forward));
    copied_ = forward;
    return scratch_;
  }

 private:
  std::string_view chars(std::size_t from, std::size_t to) const noexcept {
    return {reinterpret_cast<const char *>(buffer_.data()) + from, to - from};
  }

  std::string &scratch_;
  protocol::byte_span buffer_;
  std::size_t copied_ = 0;
  bool edited_ = false;
};

}  // namespace pgfunnel::session
