// Encoders of the messages the pooler sends, on top of a length-patching message builder.
#include "pgfunnel/protocol/encode.hpp"

#include "pgfunnel/protocol/bytes.hpp"

namespace pgfunnel::protocol {

message_builder::message_builder(std::string& out, std::uint8_t tag) : out_(out) {
  if (tag != 0) out_.push_back(static_cast<char>(tag));
  length_at_ = out_.size();
  out_.append(4, '\0');
}

message_builder::~message_builder() {
  const auto length = static_cast<std::uint32_t>(out_.size() - length_at_);
  store_u32(reinterpret_cast<std::uint8_t*>(out_.data() + length_at_), length);
}

message_builder& message_builder::i32(std::int32_t v) {
  std::uint8_t b[4];
  store_u32(b, static_cast<std::uint32_t>(v));
  out_.append(reinterpret_cast<const char*>(b), 4);
  return *this;
}

message_builder& message_builder::i16(std::int16_t v) {
  out_.push_back(static_cast<char>((static_cast<std::uint16_t>(v) >> 8) & 0xff));
  out_.push_back(static_cast<char>(static_cast<std::uint16_t>(v) & 0xff));
  return *this;
}

message_builder& message_builder::u8(std::uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

message_builder& message_builder::cstring(std::string_view s) {
  out_.append(s);
  out_.push_back('\0');
  return *this;
}

message_builder& message_builder::raw(std::string_view s) {
  out_.append(s);
  return *this;
}

namespace {
void encode_error_like(std::string& out, std::uint8_t tag, const error_message& e) {
  message_builder m(out, tag);
  m.u8('S').cstring(e.severity);
  m.u8('V').cstring(e.severity);
  m.u8('C').cstring(e.sqlstate);
  m.u8('M').cstring(e.message);
  if (!e.detail.empty()) m.u8('D').cstring(e.detail);
  if (!e.hint.empty()) m.u8('H').cstring(e.hint);
  m.u8(0);
}

void encode_auth(std::string& out, auth_request type, std::string_view data = {}) {
  message_builder(out, 'R').i32(static_cast<std::int32_t>(type)).raw(data);
}
}  // namespace

void encode_error_response(std::string& out, const error_message& e) { encode_error_like(out, 'E', e); }
void encode_notice_response(std::string& out, const error_message& e) { encode_error_like(out, 'N', e); }

void encode_authentication_ok(std::string& out) { encode_auth(out, auth_request::ok); }
void encode_authentication_cleartext_password(std::string& out) {
  encode_auth(out, auth_request::cleartext_password);
}
void encode_authentication_md5_password(std::string& out, std::span<const std::uint8_t, 4> salt) {
  encode_auth(out, auth_request::md5_password,
              std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()));
}
void encode_authentication_sasl(std::string& out, std::initializer_list<std::string_view> mechanisms) {
  message_builder m(out, 'R');
  m.i32(static_cast<std::int32_t>(auth_request::sasl));
  for (auto name : mechanisms) m.cstring(name);
  m.u8(0);
}
void encode_authentication_sasl(std::string& out, std::span<const std::string> mechanisms) {
  message_builder m(out, 'R');
  m.i32(static_cast<std::int32_t>(auth_request::sasl));
  for (const auto& name : mechanisms) m.cstring(name);
  m.u8(0);
}
void encode_authentication_sasl_continue(std::string& out, std::string_view data) {
  encode_auth(out, auth_request::sasl_continue, data);
}
void encode_authentication_sasl_final(std::string& out, std::string_view data) {
  encode_auth(out, auth_request::sasl_final, data);
}

void encode_parameter_status(std::string& out, std::string_view name, std::string_view value) {
  message_builder(out, 'S').cstring(name).cstring(value);
}
void encode_backend_key_data(std::string& out, std::int32_t process_id, std::int32_t secret_key) {
  message_builder(out, 'K').i32(process_id).i32(secret_key);
}
void encode_ready_for_query(std::string& out, transaction_status status) {
  message_builder(out, 'Z').u8(static_cast<std::uint8_t>(status));
}
void encode_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                       std::span<const std::string_view> unrecognised_options) {
  message_builder m(out, 'v');
  m.i32(newest_minor).i32(static_cast<std::int32_t>(unrecognised_options.size()));
  for (auto name : unrecognised_options) m.cstring(name);
}

void encode_startup_message(std::string& out,
                            std::span<const std::pair<std::string_view, std::string_view>> parameters) {
  message_builder m(out, 0);
  m.i32(protocol_version_3_0);
  for (const auto& [name, value] : parameters) m.cstring(name).cstring(value);
  m.u8(0);
}
void encode_ssl_request(std::string& out) { message_builder(out, 0).i32(ssl_request_code); }
void encode_cancel_request(std::string& out, std::int32_t process_id, std::int32_t secret_key) {
  message_builder(out, 0).i32(cancel_request_code).i32(process_id).i32(secret_key);
}
void encode_password_message(std::string& out, std::string_view password) {
  message_builder(out, 'p').cstring(password);
}
void encode_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data) {
  message_builder(out, 'p').cstring(mechanism).i32(static_cast<std::int32_t>(data.size())).raw(data);
}
void encode_sasl_response(std::string& out, std::string_view data) { message_builder(out, 'p').raw(data); }
void encode_query(std::string& out, std::string_view sql) { message_builder(out, 'Q').cstring(sql); }
void encode_terminate(std::string& out) { message_builder(out, 'X'); }
void encode_sync(std::string& out) { message_builder(out, 'S'); }
void encode_parse(std::string& out, std::string_view statement, std::string_view query,
                  std::span<const std::uint8_t> parameter_types_raw, std::int16_t parameter_count) {
  message_builder(out, 'P')
      .cstring(statement)
      .cstring(query)
      .i16(parameter_count)
      .raw(std::string_view(reinterpret_cast<const char*>(parameter_types_raw.data()),
                            parameter_types_raw.size()));
}
void encode_close(std::string& out, std::uint8_t kind, std::string_view name) {
  message_builder(out, 'C').u8(kind).cstring(name);
}
void encode_parse_complete(std::string& out) { message_builder(out, '1'); }
void encode_close_complete(std::string& out) { message_builder(out, '3'); }

}  // namespace pgfunnel::protocol
