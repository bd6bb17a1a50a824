// Error codes of the wire-protocol codec: every malformed input maps to one of these, never to an exception.
#pragma once

#include <system_error>

namespace pgfunnel::protocol {

enum class errc {
  length_too_short = 1,   // a length field below 4 (or below 8 for a startup packet)
  length_too_long,        // a length field above the configured maximum
  unknown_tag,            // a tag byte that is not a message of this direction
  truncated,              // a body that ends before a field it must contain
  trailing_bytes,         // a body with bytes left after its last field
  missing_terminator,     // a C string without its NUL
  bad_protocol_version,   // a startup packet with a version we do not speak
  bad_field,              // a field with an impossible value (negative count, bad status byte, ...)
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace pgfunnel::protocol

template <>
struct std::is_error_code_enum<pgfunnel::protocol::errc> : std::true_type {};
