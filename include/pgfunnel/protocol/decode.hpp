// Decoders for the messages the pooler acts on; results are views into the message body.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "pgfunnel/protocol/bytes.hpp"
#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::protocol {

// ---- startup phase (body = everything after the int32 length) -------------------------------

enum class startup_kind : std::uint8_t { startup_message, ssl_request, gssenc_request, cancel_request };

struct startup_packet {
  startup_kind kind = startup_kind::startup_message;
  std::int32_t protocol_version = 0;  // StartupMessage only
  std::vector<std::pair<std::string_view, std::string_view>> parameters;  // StartupMessage only
  std::int32_t process_id = 0;  // CancelRequest only
  std::int32_t secret_key = 0;  // CancelRequest only

  std::string_view parameter(std::string_view name) const noexcept;
};

std::error_code decode_startup(byte_span body, startup_packet& out);

// ---- backend messages ---------------------------------------------------------------------------

struct authentication {
  auth_request type = auth_request::ok;
  byte_span data;  // md5: 4-byte salt; sasl: mechanism list; sasl_continue/final: SASL data
};
std::error_code decode_authentication(byte_span body, authentication& out);
// The NUL-separated, empty-string-terminated mechanism list of AuthenticationSASL.
std::error_code decode_sasl_mechanisms(byte_span data, std::vector<std::string_view>& out);

struct parameter_status {
  std::string_view name;
  std::string_view value;
};
std::error_code decode_parameter_status(byte_span body, parameter_status& out);

struct backend_key_data {
  std::int32_t process_id = 0;
  std::int32_t secret_key = 0;
};
std::error_code decode_backend_key_data(byte_span body, backend_key_data& out);

std::error_code decode_ready_for_query(byte_span body, transaction_status& out);

// DataRow: how many columns it has, and column `index`'s value (nullopt for NULL). The whole row is
// checked (every length within the body, nothing after the last column); errc::bad_field when
// `index` is not a column of the row or a length is negative other than -1.
struct data_row_column {
  std::size_t columns = 0;
  std::optional<byte_span> value;
};
std::error_code decode_data_row_column(byte_span body, std::size_t index, data_row_column& out);

// ErrorResponse and NoticeResponse share one layout: (field type byte, C string)*, then NUL.
struct error_fields {
  std::string_view severity;       // 'S' (localised)
  std::string_view severity_v;     // 'V' (never localised)
  std::string_view code;           // 'C' SQLSTATE
  std::string_view message;        // 'M'
  std::string_view detail;         // 'D'
  std::string_view hint;           // 'H'
};
std::error_code decode_error_response(byte_span body, error_fields& out);

// ---- frontend messages --------------------------------------------------------------------------

std::error_code decode_query(byte_span body, std::string_view& sql);

struct parse_message {
  std::string_view statement;
  std::string_view query;
  std::int16_t parameter_count = 0;
  byte_span parameter_types;  // parameter_count big-endian OIDs
};
std::error_code decode_parse(byte_span body, parse_message& out);

// Only the names: the pooler routes by them and forwards the rest untouched.
struct bind_names {
  std::string_view portal;
  std::string_view statement;
};
std::error_code decode_bind_names(byte_span body, bind_names& out);

// Describe and Close: a kind byte ('S' statement or 'P' portal) and a name.
struct target_name {
  std::uint8_t kind = 'S';
  std::string_view name;
};
std::error_code decode_describe(byte_span body, target_name& out);
std::error_code decode_close(byte_span body, target_name& out);

struct execute_message {
  std::string_view portal;
  std::int32_t max_rows = 0;
};
std::error_code decode_execute(byte_span body, execute_message& out);

std::error_code decode_copy_fail(byte_span body, std::string_view& message);

// PasswordMessage ('p') carrying a cleartext or md5 password.
std::error_code decode_password_message(byte_span body, std::string_view& password);

// SASLInitialResponse ('p' while SASL is selected).
struct sasl_initial_response {
  std::string_view mechanism;
  std::string_view data;  // empty when the client sent length -1
};
std::error_code decode_sasl_initial_response(byte_span body, sasl_initial_response& out);

}  // namespace pgfunnel::protocol
