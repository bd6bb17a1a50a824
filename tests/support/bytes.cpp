// Test byte builders for PostgreSQL v3 wire messages: plain string concatenation, independent of src/protocol.
#include "bytes.hpp"

namespace pgfunnel::test {

std::string u32be(std::uint32_t n) {
  std::string s(4, '\0');
  s[0] = static_cast<char>((n >> 24) & 0xff);
  s[1] = static_cast<char>((n >> 16) & 0xff);
  s[2] = static_cast<char>((n >> 8) & 0xff);
  s[3] = static_cast<char>(n & 0xff);
  return s;
}
std::string i32be(std::int32_t n) { return u32be(static_cast<std::uint32_t>(n)); }
std::string u16be(std::uint16_t n) {
  std::string s(2, '\0');
  s[0] = static_cast<char>((n >> 8) & 0xff);
  s[1] = static_cast<char>(n & 0xff);
  return s;
}
std::string i16be(std::int16_t n) { return u16be(static_cast<std::uint16_t>(n)); }

std::string cstr(std::string_view s) {
  std::string out(s);
  out.push_back('\0');
  return out;
}

std::string msg(char tag, std::string_view body) {
  return msg_with_length(tag, static_cast<std::uint32_t>(body.size() + 4), body);
}
std::string msg_with_length(char tag, std::uint32_t length, std::string_view body) {
  std::string out(1, tag);
  out += u32be(length);
  out += body;
  return out;
}
std::string packet(std::string_view body) {
  std::string out = u32be(static_cast<std::uint32_t>(body.size() + 4));
  out += body;
  return out;
}

std::span<const std::uint8_t> as_span(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string to_string(std::span<const std::uint8_t> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}
std::string hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

namespace fe {

std::string startup(const parameter_list& parameters, std::uint32_t version) {
  std::string body = u32be(version);
  for (const auto& [name, value] : parameters) body += cstr(name) + cstr(value);
  body.push_back('\0');
  return packet(body);
}
// 1234.5679, 1234.5680 and 1234.5678 from the protocol docs.
std::string ssl_request() { return packet(u32be((1234u << 16) | 5679u)); }
std::string gssenc_request() { return packet(u32be((1234u << 16) | 5680u)); }
std::string cancel(std::int32_t process_id, std::int32_t secret_key) {
  return packet(u32be((1234u << 16) | 5678u) + i32be(process_id) + i32be(secret_key));
}

std::string query(std::string_view sql) { return msg('Q', cstr(sql)); }
std::string parse(std::string_view statement, std::string_view sql, const std::vector<std::uint32_t>& oids) {
  std::string body = cstr(statement) + cstr(sql) + i16be(static_cast<std::int16_t>(oids.size()));
  for (auto oid : oids) body += u32be(oid);
  return msg('P', body);
}
std::string bind(std::string_view portal, std::string_view statement) {
  return msg('B', cstr(portal) + cstr(statement) + i16be(0) + i16be(0) + i16be(0));
}
std::string bind(std::string_view portal, std::string_view statement,
                 const std::vector<std::optional<std::string>>& values,
                 const std::vector<std::int16_t>& result_formats) {
  std::string body = cstr(portal) + cstr(statement);
  body += i16be(0);  // all parameters in text format
  body += i16be(static_cast<std::int16_t>(values.size()));
  for (const auto& v : values) {
    if (v) {
      body += i32be(static_cast<std::int32_t>(v->size())) + *v;
    } else {
      body += i32be(-1);
    }
  }
  body += i16be(static_cast<std::int16_t>(result_formats.size()));
  for (auto f : result_formats) body += i16be(f);
  return msg('B', body);
}
std::string describe(char kind, std::string_view name) { return msg('D', std::string(1, kind) + cstr(name)); }
std::string close(char kind, std::string_view name) { return msg('C', std::string(1, kind) + cstr(name)); }
std::string execute(std::string_view portal, std::int32_t max_rows) {
  return msg('E', cstr(portal) + i32be(max_rows));
}
std::string sync() { return msg('S', {}); }
std::string flush() { return msg('H', {}); }
std::string terminate() { return msg('X', {}); }
std::string copy_data(std::string_view data) { return msg('d', data); }
std::string copy_done() { return msg('c', {}); }
std::string copy_fail(std::string_view message) { return msg('f', cstr(message)); }
std::string password(std::string_view password) { return msg('p', cstr(password)); }
std::string sasl_initial_response(std::string_view mechanism, std::optional<std::string_view> data) {
  std::string body = cstr(mechanism);
  if (data) {
    body += i32be(static_cast<std::int32_t>(data->size()));
    body += *data;
  } else {
    body += i32be(-1);
  }
  return msg('p', body);
}
std::string sasl_response(std::string_view data) { return msg('p', data); }

}  // namespace fe

namespace be {

namespace {
std::string fields_body(const field_list& fields) {
  std::string body;
  for (const auto& [type, value] : fields) {
    body.push_back(type);
    body += cstr(value);
  }
  body.push_back('\0');
  return body;
}
}  // namespace

std::string auth_ok() { return msg('R', i32be(0)); }
std::string auth_cleartext() { return msg('R', i32be(3)); }
std::string auth_md5(std::string_view salt4) { return msg('R', i32be(5) + std::string(salt4)); }
std::string auth_sasl(const std::vector<std::string>& mechanisms) {
  std::string body = i32be(10);
  for (const auto& m : mechanisms) body += cstr(m);
  body.push_back('\0');
  return msg('R', body);
}
std::string auth_sasl_continue(std::string_view data) { return msg('R', i32be(11) + std::string(data)); }
std::string auth_sasl_final(std::string_view data) { return msg('R', i32be(12) + std::string(data)); }
std::string parameter_status(std::string_view name, std::string_view value) {
  return msg('S', cstr(name) + cstr(value));
}
std::string backend_key_data(std::int32_t process_id, std::int32_t secret_key) {
  return msg('K', i32be(process_id) + i32be(secret_key));
}
std::string ready_for_query(char status) { return msg('Z', std::string(1, status)); }
std::string error(const field_list& fields) { return msg('E', fields_body(fields)); }
std::string notice(const field_list& fields) { return msg('N', fields_body(fields)); }
std::string negotiate_protocol_version(std::int32_t newest_minor, const std::vector<std::string>& options) {
  std::string body = i32be(newest_minor) + i32be(static_cast<std::int32_t>(options.size()));
  for (const auto& o : options) body += cstr(o);
  return msg('v', body);
}
std::string parse_complete() { return msg('1', {}); }
std::string bind_complete() { return msg('2', {}); }
std::string close_complete() { return msg('3', {}); }
std::string no_data() { return msg('n', {}); }
std::string empty_query_response() { return msg('I', {}); }
std::string command_complete(std::string_view tag) { return msg('C', cstr(tag)); }
std::string row_description(const std::vector<std::pair<std::string, std::uint32_t>>& columns) {
  std::string body = i16be(static_cast<std::int16_t>(columns.size()));
  for (const auto& [name, type_oid] : columns) {
    body += cstr(name) + u32be(0) + i16be(0) + u32be(type_oid) + i16be(-1) + i32be(-1) + i16be(0);
  }
  return msg('T', body);
}
std::string data_row(const std::vector<std::optional<std::string>>& values) {
  std::string body = i16be(static_cast<std::int16_t>(values.size()));
  for (const auto& v : values) {
    if (v) {
      body += i32be(static_cast<std::int32_t>(v->size())) + *v;
    } else {
      body += i32be(-1);
    }
  }
  return msg('D', body);
}

}  // namespace be

}  // namespace pgfunnel::test
