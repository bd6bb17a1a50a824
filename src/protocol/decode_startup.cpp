// Decoder of the untagged startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
#include "pgfunnel/protocol/decode.hpp"

namespace pgfunnel::protocol {

std::string_view startup_packet::parameter(std::string_view name) const noexcept {
  for (const auto& [key, value] : parameters)
    if (key == name) return value;
  return {};
}

std::error_code decode_startup(byte_span body, startup_packet& out) {
  body_reader r(body);
  const std::int32_t code = r.i32();
  if (auto ec = r.error()) return ec;
  out = startup_packet{};
  switch (code) {
    case ssl_request_code:
      out.kind = startup_kind::ssl_request;
      return r.finish();
    case gssenc_request_code:
      out.kind = startup_kind::gssenc_request;
      return r.finish();
    case cancel_request_code:
      out.kind = startup_kind::cancel_request;
      out.process_id = r.i32();
      out.secret_key = r.i32();
      return r.finish();
    default:
      break;
  }
  // Major version 3 only; minor versions above 0 are answered by the caller with
  // NegotiateProtocolVersion, as PostgreSQL does, so they are accepted here.
  out.protocol_version = code;  // kept on a refusal too: the answer names the version asked for
  if ((code >> 16) != 3) return errc::bad_protocol_version;
  out.kind = startup_kind::startup_message;
  // name/value C-string pairs, then a lone NUL.
  for (;;) {
    std::string_view name = r.cstring();
    if (auto ec = r.error()) return ec;
    if (name.empty()) break;
    std::string_view value = r.cstring();
    if (auto ec = r.error()) return ec;
    out.parameters.emplace_back(name, value);
  }
  return r.finish();
}

}  // namespace pgfunnel::protocol
