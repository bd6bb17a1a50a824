// Encoders for the messages the pooler itself sends; each appends one whole message to `out`.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::protocol {

// The fields of an ErrorResponse / NoticeResponse the pooler fills in.
struct error_message {
  std::string_view severity = "ERROR";  // ERROR, FATAL, PANIC / NOTICE, WARNING, ...
  std::string_view sqlstate;            // five characters, e.g. "53300"
  std::string_view message;
  std::string_view detail = {};
  std::string_view hint = {};
};

// ---- backend messages (pgfunnel acting as the server) --------------------------------------------
void encode_error_response(std::string& out, const error_message& e);
void encode_notice_response(std::string& out, const error_message& e);
void encode_authentication_ok(std::string& out);
void encode_authentication_cleartext_password(std::string& out);
void encode_authentication_md5_password(std::string& out, std::span<const std::uint8_t, 4> salt);
void encode_authentication_sasl(std::string& out, std::initializer_list<std::string_view> mechanisms);
void encode_authentication_sasl(std::string& out, std::span<const std::string> mechanisms);
void encode_authentication_sasl_continue(std::string& out, std::string_view data);
void encode_authentication_sasl_final(std::string& out, std::string_view data);
void encode_parameter_status(std::string& out, std::string_view name, std::string_view value);
void encode_backend_key_data(std::string& out, std::int32_t process_id, std::int32_t secret_key);
void encode_ready_for_query(std::string& out, transaction_status status);
void encode_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                       std::span<const std::string_view> unrecognised_options);

// ---- frontend messages (pgfunnel acting as the client) -------------------------------------------
void encode_startup_message(std::string& out,
                            std::span<const std::pair<std::string_view, std::string_view>> parameters);
void encode_ssl_request(std::string& out);
void encode_cancel_request(std::string& out, std::int32_t process_id, std::int32_t secret_key);
void encode_password_message(std::string& out, std::string_view password);
void encode_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data);
void encode_sasl_response(std::string& out, std::string_view data);
void encode_query(std::string& out, std::string_view sql);
void encode_terminate(std::string& out);
void encode_sync(std::string& out);
void encode_parse(std::string& out, std::string_view statement, std::string_view query,
                  std::span<const std::uint8_t> parameter_types_raw, std::int16_t parameter_count);
void encode_close(std::string& out, std::uint8_t kind, std::string_view name);

// ---- backend replies the pooler synthesises ------------------------------------------------------
void encode_parse_complete(std::string& out);
void encode_close_complete(std::string& out);

// Builds one message: writes the tag and a length placeholder, patches the length when done.
class message_builder {
 public:
  // tag 0 starts an untagged startup-phase packet.
  message_builder(std::string& out, std::uint8_t tag);
  ~message_builder();
  message_builder(const message_builder&) = delete;
  message_builder& operator=(const message_builder&) = delete;

  message_builder& i32(std::int32_t v);
  message_builder& i16(std::int16_t v);
  message_builder& u8(std::uint8_t v);
  message_builder& cstring(std::string_view s);  // appends s and a NUL
  message_builder& raw(std::string_view s);

 private:
  std::string& out_;
  std::size_t length_at_;
};

}  // namespace pgfunnel::protocol
