// Decoders of frontend messages the pooler acts on: Q, P, B (names), D, C, E, f, p.
#include "pgfunnel/protocol/decode.hpp"

namespace pgfunnel::protocol {

std::error_code decode_query(byte_span body, std::string_view& sql) {
  body_reader r(body);
  sql = r.cstring();
  return r.finish();
}

std::error_code decode_parse(byte_span body, parse_message& out) {
  body_reader r(body);
  out.statement = r.cstring();
  out.query = r.cstring();
  out.parameter_count = r.i16();
  if (auto ec = r.error()) return ec;
  if (out.parameter_count < 0) return errc::bad_field;
  out.parameter_types = r.bytes(static_cast<std::size_t>(out.parameter_count) * 4);
  return r.finish();
}

std::error_code decode_bind_names(byte_span body, bind_names& out) {
  body_reader r(body);
  out.portal = r.cstring();
  out.statement = r.cstring();
  // The formats, values and result formats follow; they are forwarded as they are.
  return r.error();
}

namespace {
std::error_code decode_target(byte_span body, target_name& out) {
  body_reader r(body);
  out.kind = r.u8();
  out.name = r.cstring();
  if (auto ec = r.finish()) return ec;
  if (out.kind != 'S' && out.kind != 'P') return errc::bad_field;
  return {};
}
}  // namespace

std::error_code decode_describe(byte_span body, target_name& out) { return decode_target(body, out); }
std::error_code decode_close(byte_span body, target_name& out) { return decode_target(body, out); }

std::error_code decode_execute(byte_span body, execute_message& out) {
  body_reader r(body);
  out.portal = r.cstring();
  out.max_rows = r.i32();
  return r.finish();
}

std::error_code decode_copy_fail(byte_span body, std::string_view& message) {
  body_reader r(body);
  message = r.cstring();
  return r.finish();
}

std::error_code decode_password_message(byte_span body, std::string_view& password) {
  body_reader r(body);
  password = r.cstring();
  return r.finish();
}

std::error_code decode_sasl_initial_response(byte_span body, sasl_initial_response& out) {
  body_reader r(body);
  out.mechanism = r.cstring();
  const std::int32_t length = r.i32();
  if (auto ec = r.error()) return ec;
  if (length == -1) {
    out.data = {};
    return r.finish();
  }
  if (length < 0) return errc::bad_field;
  byte_span data = r.bytes(static_cast<std::size_t>(length));
  out.data = std::string_view(reinterpret_cast<const char*>(data.data()), data.size());
  return r.finish();
}

}  // namespace pgfunnel::protocol
