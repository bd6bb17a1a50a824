// Decoders of backend messages the pooler acts on: R, S, K, Z, E/N.
#include "pgfunnel/protocol/decode.hpp"

namespace pgfunnel::protocol {

std::error_code decode_authentication(byte_span body, authentication& out) {
  body_reader r(body);
  const std::int32_t type = r.i32();
  if (auto ec = r.error()) return ec;
  out.type = static_cast<auth_request>(type);
  out.data = {};  // no stale data from a previous message when this type carries none
  switch (out.type) {
    case auth_request::ok:
    case auth_request::cleartext_password:
    case auth_request::kerberos_v5:
    case auth_request::gss:
    case auth_request::sspi:
      return r.finish();
    case auth_request::md5_password:
      out.data = r.bytes(4);
      return r.finish();
    case auth_request::sasl:
    case auth_request::sasl_continue:
    case auth_request::sasl_final:
    case auth_request::gss_continue:
      out.data = r.rest();
      return {};
  }
  return errc::bad_field;
}

std::error_code decode_sasl_mechanisms(byte_span data, std::vector<std::string_view>& out) {
  body_reader r(data);
  out.clear();
  for (;;) {
    std::string_view name = r.cstring();
    if (auto ec = r.error()) return ec;
    if (name.empty()) break;
    out.push_back(name);
  }
  return r.finish();
}

std::error_code decode_parameter_status(byte_span body, parameter_status& out) {
  body_reader r(body);
  out.name = r.cstring();
  out.value = r.cstring();
  return r.finish();
}

std::error_code decode_backend_key_data(byte_span body, backend_key_data& out) {
  body_reader r(body);
  out.process_id = r.i32();
  out.secret_key = r.i32();
  return r.finish();
}

std::error_code decode_ready_for_query(byte_span body, transaction_status& out) {
  body_reader r(body);
  const std::uint8_t status = r.u8();
  if (auto ec = r.finish()) return ec;
  if (status != 'I' && status != 'T' && status != 'E') return errc::bad_field;
  out = static_cast<transaction_status>(status);
  return {};
}

std::error_code decode_data_row_column(byte_span body, std::size_t index, data_row_column& out) {
  body_reader r(body);
  out = data_row_column{};
  const std::int16_t columns = r.i16();
  if (auto ec = r.error()) return ec;
  if (columns < 0) return errc::bad_field;
  out.columns = static_cast<std::size_t>(columns);
  for (std::size_t c = 0; c < out.columns; ++c) {
    const std::int32_t length = r.i32();
    if (auto ec = r.error()) return ec;
    if (length < -1) return errc::bad_field;
    const byte_span value = length < 0 ? byte_span{} : r.bytes(static_cast<std::size_t>(length));
    if (auto ec = r.error()) return ec;
    if (c == index && length >= 0) out.value = value;
  }
  if (auto ec = r.finish()) return ec;
  if (index >= out.columns) return errc::bad_field;
  return {};
}

std::error_code decode_error_response(byte_span body, error_fields& out) {
  body_reader r(body);
  out = error_fields{};
  for (;;) {
    const std::uint8_t type = r.u8();
    if (auto ec = r.error()) return ec;
    if (type == 0) break;
    std::string_view value = r.cstring();
    if (auto ec = r.error()) return ec;
    switch (type) {
      case 'S': out.severity = value; break;
      case 'V': out.severity_v = value; break;
      case 'C': out.code = value; break;
      case 'M': out.message = value; break;
      case 'D': out.detail = value; break;
      case 'H': out.hint = value; break;
      default: break;  // other fields (position, where, ...) are forwarded, not interpreted
    }
  }
  return r.finish();
}

}  // namespace pgfunnel::protocol
