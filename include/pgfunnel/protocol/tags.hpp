// Message tags and startup-packet codes of protocol 3.0, named as in the PostgreSQL protocol docs.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgfunnel::protocol {

// Messages a frontend (client) sends after startup.
enum class frontend_tag : std::uint8_t {
  bind = 'B',
  close = 'C',
  copy_data = 'd',
  copy_done = 'c',
  copy_fail = 'f',
  describe = 'D',
  execute = 'E',
  flush = 'H',
  function_call = 'F',
  parse = 'P',
  password_message = 'p',  // also SASLInitialResponse, SASLResponse, GSSResponse
  query = 'Q',
  sync = 'S',
  terminate = 'X',
};

// Messages a backend (server) sends.
enum class backend_tag : std::uint8_t {
  authentication = 'R',
  backend_key_data = 'K',
  bind_complete = '2',
  close_complete = '3',
  command_complete = 'C',
  copy_data = 'd',
  copy_done = 'c',
  copy_in_response = 'G',
  copy_out_response = 'H',
  copy_both_response = 'W',
  data_row = 'D',
  empty_query_response = 'I',
  error_response = 'E',
  function_call_response = 'V',
  negotiate_protocol_version = 'v',
  no_data = 'n',
  notice_response = 'N',
  notification_response = 'A',
  parameter_description = 't',
  parameter_status = 'S',
  parse_complete = '1',
  portal_suspended = 's',
  ready_for_query = 'Z',
  row_description = 'T',
};

bool is_frontend_tag(std::uint8_t tag) noexcept;
bool is_backend_tag(std::uint8_t tag) noexcept;

// The int32 codes that open an untagged startup-phase packet.
inline constexpr std::int32_t protocol_version_3_0 = 196608;  // 3 << 16
inline constexpr std::int32_t cancel_request_code = 80877102;
inline constexpr std::int32_t ssl_request_code = 80877103;
inline constexpr std::int32_t gssenc_request_code = 80877104;

// AuthenticationRequest subtypes ('R' message, first int32).
enum class auth_request : std::int32_t {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

// ReadyForQuery transaction status.
enum class transaction_status : std::uint8_t {
  idle = 'I',            // not in a transaction block
  in_transaction = 'T',  // in a transaction block
  failed = 'E',          // in a failed transaction block
};

// Header sizes: a tagged message is tag + int32 length; a startup packet is int32 length + int32 code.
inline constexpr std::size_t tagged_header_size = 5;
inline constexpr std::size_t startup_header_size = 8;
// PostgreSQL refuses startup packets above this (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t max_startup_packet_length = 10000;

}  // namespace pgfunnel::protocol
