// The error category of the wire-protocol codec.
#include "pgfunnel/protocol/errc.hpp"

#include <string>

namespace pgfunnel::protocol {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pgfunnel.protocol"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::length_too_short: return "invalid message length (too short)";
      case errc::length_too_long: return "invalid message length (exceeds the maximum message size)";
      case errc::unknown_tag: return "unknown message type";
      case errc::truncated: return "message body is truncated";
      case errc::trailing_bytes: return "message body has trailing bytes";
      case errc::missing_terminator: return "string field is missing its terminator";
      case errc::bad_protocol_version: return "unsupported frontend protocol version";
      case errc::bad_field: return "invalid field value";
    }
    return "unknown protocol error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace pgfunnel::protocol
