// Test byte builders for PostgreSQL v3 wire messages, written by hand from the protocol docs (not with our encoders).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgfunnel::test {

// ---- raw pieces -------------------------------------------------------------------------------------

// Big-endian integers, as strings of 4 / 2 bytes.
std::string u32be(std::uint32_t n);
std::string i32be(std::int32_t n);
std::string u16be(std::uint16_t n);
std::string i16be(std::int16_t n);
// A C string: `s` followed by one NUL.
std::string cstr(std::string_view s);

// A tagged message: tag, int32 length (counting itself, not the tag), body.
std::string msg(char tag, std::string_view body);
// A tagged message whose length field says `length`, whatever the body is (for malformed lengths).
std::string msg_with_length(char tag, std::uint32_t length, std::string_view body = {});
// An untagged startup-phase packet: int32 length (counting itself), body.
std::string packet(std::string_view body);

// Views over test bytes, in the codec's span type (std::span<const std::uint8_t>).
std::span<const std::uint8_t> as_span(std::string_view s);
std::string to_string(std::span<const std::uint8_t> s);
// "51 00 00 00 0d ..." for readable assertion messages.
std::string hex(std::string_view s);

// ---- frontend messages ----------------------------------------------------------------------------
namespace fe {

using parameter_list = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::uint32_t protocol_3_0 = 3u << 16;

// StartupMessage: int32 version, (name, value)*, NUL.
std::string startup(const parameter_list& parameters, std::uint32_t version = protocol_3_0);
std::string ssl_request();
std::string gssenc_request();
std::string cancel(std::int32_t process_id, std::int32_t secret_key);

std::string query(std::string_view sql);
std::string parse(std::string_view statement, std::string_view sql, const std::vector<std::uint32_t>& oids = {});
// Bind with no parameter formats, no parameters, no result formats.
std::string bind(std::string_view portal, std::string_view statement);
// Bind with text parameters (std::nullopt is SQL NULL, sent as length -1) and result format codes.
std::string bind(std::string_view portal, std::string_view statement,
                 const std::vector<std::optional<std::string>>& values,
                 const std::vector<std::int16_t>& result_formats = {});
std::string describe(char kind, std::string_view name);
std::string close(char kind, std::string_view name);
std::string execute(std::string_view portal, std::int32_t max_rows = 0);
std::string sync();
std::string flush();
std::string terminate();
std::string copy_data(std::string_view data);
std::string copy_done();
std::string copy_fail(std::string_view message);
std::string password(std::string_view password);
// SASLInitialResponse; std::nullopt sends length -1 (no initial response).
std::string sasl_initial_response(std::string_view mechanism, std::optional<std::string_view> data);
std::string sasl_response(std::string_view data);

}  // namespace fe

// ---- backend messages -----------------------------------------------------------------------------
namespace be {

using field_list = std::vector<std::pair<char, std::string>>;

std::string auth_ok();
std::string auth_cleartext();
std::string auth_md5(std::string_view salt4);
std::string auth_sasl(const std::vector<std::string>& mechanisms);
std::string auth_sasl_continue(std::string_view data);
std::string auth_sasl_final(std::string_view data);
std::string parameter_status(std::string_view name, std::string_view value);
std::string backend_key_data(std::int32_t process_id, std::int32_t secret_key);
std::string ready_for_query(char status);
// ErrorResponse / NoticeResponse: (type byte, C string)* in the given order, then NUL.
std::string error(const field_list& fields);
std::string notice(const field_list& fields);
std::string negotiate_protocol_version(std::int32_t newest_minor, const std::vector<std::string>& options);
std::string parse_complete();
std::string bind_complete();
std::string close_complete();
std::string no_data();
std::string empty_query_response();
std::string command_complete(std::string_view tag);
// RowDescription of text columns (table oid 0, attnum 0, type oid, size -1, typmod -1, format 0).
std::string row_description(const std::vector<std::pair<std::string, std::uint32_t>>& columns);
// DataRow; std::nullopt is NULL (length -1).
std::string data_row(const std::vector<std::optional<std::string>>& values);

}  // namespace be

}  // namespace pgfunnel::test
