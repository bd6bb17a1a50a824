// Shared by the protocol fuzz targets: runs every decoder that fits a body, checks its views, re-encodes the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/protocol/bytes.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/protocol/frame.hpp"
#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::fuzz {

namespace p = pgfunnel::protocol;

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz check failed: %s at %s:%d\n", what, file, line);
  std::abort();
}
#define PGF_FUZZ_CHECK(x) \
  do {                    \
    if (!(x)) ::pgfunnel::fuzz::check_failed(#x, __FILE__, __LINE__); \
  } while (0)

inline std::string_view view(p::byte_span s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

// A decoded view must lie inside the body it came from (empty views may point anywhere).
inline bool within(p::byte_span body, std::string_view s) {
  if (s.empty()) return true;
  const char* b = reinterpret_cast<const char*>(body.data());
  return s.data() >= b && s.data() + s.size() <= b + body.size();
}
inline bool within(p::byte_span body, p::byte_span s) { return within(body, view(s)); }

// The wire bytes of a message with this body, as a peer would have sent it.
inline std::string tagged_wire(std::uint8_t tag, p::byte_span body) {
  std::string out;
  {
    p::message_builder m(out, tag);
    m.raw(view(body));
  }
  return out;
}
inline std::string startup_wire(p::byte_span body) { return tagged_wire(0, body); }

template <typename F>
std::string encoded(F&& f) {
  std::string out;
  f(out);
  return out;
}

// max_length from one input byte: 0..127 exactly (below any header, around small messages), or
// multiples of 128 up to 16256 (around the 10000-byte startup limit).
inline std::uint32_t limit_from(std::uint8_t b) {
  return b < 0x80 ? b : static_cast<std::uint32_t>(b - 0x80) * 128;
}

// ---- startup phase ------------------------------------------------------------------------------------

inline std::error_code decode_startup_checked(p::byte_span body, p::startup_packet& sp) {
  const std::error_code ec = p::decode_startup(body, sp);
  if (ec) return ec;
  switch (sp.kind) {
    case p::startup_kind::startup_message: {
      PGF_FUZZ_CHECK((sp.protocol_version >> 16) == 3);
      for (const auto& [name, value] : sp.parameters) {
        PGF_FUZZ_CHECK(!name.empty());
        PGF_FUZZ_CHECK(within(body, name) && within(body, value));
        PGF_FUZZ_CHECK(within(body, sp.parameter(name)));
      }
      if (sp.protocol_version == p::protocol_version_3_0) {
        PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_startup_message(o, sp.parameters); }) ==
                       startup_wire(body));
      }
      break;
    }
    case p::startup_kind::ssl_request:
      PGF_FUZZ_CHECK(encoded([](std::string& o) { p::encode_ssl_request(o); }) == startup_wire(body));
      break;
    case p::startup_kind::gssenc_request:
      PGF_FUZZ_CHECK(body.size() == 4);
      break;
    case p::startup_kind::cancel_request:
      PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_cancel_request(o, sp.process_id, sp.secret_key); }) ==
                     startup_wire(body));
      break;
  }
  return ec;
}

// ---- frontend messages ----------------------------------------------------------------------------------

inline void decode_query(p::byte_span body) {
  std::string_view sql;
  if (!p::decode_query(body, sql)) {
    PGF_FUZZ_CHECK(within(body, sql));
    PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_query(o, sql); }) == tagged_wire('Q', body));
  }
}

inline void decode_parse(p::byte_span body) {
  p::parse_message m;
  if (!p::decode_parse(body, m)) {
    PGF_FUZZ_CHECK(m.parameter_count >= 0);
    PGF_FUZZ_CHECK(m.parameter_types.size() == static_cast<std::size_t>(m.parameter_count) * 4);
    PGF_FUZZ_CHECK(within(body, m.statement) && within(body, m.query) && within(body, m.parameter_types));
    PGF_FUZZ_CHECK(encoded([&](std::string& o) {
                     p::encode_parse(o, m.statement, m.query, m.parameter_types, m.parameter_count);
                   }) == tagged_wire('P', body));
  }
}

inline void decode_bind(p::byte_span body) {
  p::bind_names n;
  if (!p::decode_bind_names(body, n)) PGF_FUZZ_CHECK(within(body, n.portal) && within(body, n.statement));
}

inline void decode_describe(p::byte_span body) {
  p::target_name t;
  if (!p::decode_describe(body, t)) {
    PGF_FUZZ_CHECK(t.kind == 'S' || t.kind == 'P');
    PGF_FUZZ_CHECK(within(body, t.name));
  }
}

inline void decode_close(p::byte_span body) {
  p::target_name t;
  if (!p::decode_close(body, t)) {
    PGF_FUZZ_CHECK(t.kind == 'S' || t.kind == 'P');
    PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_close(o, t.kind, t.name); }) == tagged_wire('C', body));
  }
}

inline void decode_execute(p::byte_span body) {
  p::execute_message e;
  if (!p::decode_execute(body, e)) {
    PGF_FUZZ_CHECK(within(body, e.portal));
    PGF_FUZZ_CHECK(body.size() == e.portal.size() + 1 + 4);
  }
}

inline void decode_copy_fail(p::byte_span body) {
  std::string_view m;
  if (!p::decode_copy_fail(body, m)) PGF_FUZZ_CHECK(within(body, m) && body.size() == m.size() + 1);
}

inline void decode_password(p::byte_span body) {
  std::string_view pw;
  if (!p::decode_password_message(body, pw)) {
    PGF_FUZZ_CHECK(within(body, pw));
    PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_password_message(o, pw); }) == tagged_wire('p', body));
  }
}

inline void decode_sasl_initial(p::byte_span body) {
  p::sasl_initial_response s;
  if (!p::decode_sasl_initial_response(body, s)) {
    PGF_FUZZ_CHECK(within(body, s.mechanism) && within(body, s.data));
    if (!s.data.empty()) {
      PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_sasl_initial_response(o, s.mechanism, s.data); }) ==
                     tagged_wire('p', body));
    } else {
      PGF_FUZZ_CHECK(body.size() == s.mechanism.size() + 1 + 4);
    }
  }
}

// Every frontend decoder for `tag` ('p' is ambiguous without the auth state: try both readings).
inline void decode_frontend(std::uint8_t tag, p::byte_span body) {
  switch (tag) {
    case 'Q': decode_query(body); break;
    case 'P': decode_parse(body); break;
    case 'B': decode_bind(body); break;
    case 'D': decode_describe(body); break;
    case 'C': decode_close(body); break;
    case 'E': decode_execute(body); break;
    case 'f': decode_copy_fail(body); break;
    case 'p':
      decode_password(body);
      decode_sasl_initial(body);
      break;
    default: break;  // forwarded without decoding
  }
}

// ---- backend messages -----------------------------------------------------------------------------------

inline void decode_data_row(p::byte_span body) {
  for (const std::size_t index : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    p::data_row_column c;
    if (!p::decode_data_row_column(body, index, c)) {
      PGF_FUZZ_CHECK(index < c.columns);
      if (c.value) PGF_FUZZ_CHECK(within(body, *c.value));
    }
  }
}

inline void decode_authentication(p::byte_span body) {
  p::authentication a;
  if (p::decode_authentication(body, a)) return;
  PGF_FUZZ_CHECK(within(body, a.data));
  const std::string wire = tagged_wire('R', body);
  switch (a.type) {
    case p::auth_request::ok:
      PGF_FUZZ_CHECK(encoded([](std::string& o) { p::encode_authentication_ok(o); }) == wire);
      break;
    case p::auth_request::cleartext_password:
      PGF_FUZZ_CHECK(encoded([](std::string& o) { p::encode_authentication_cleartext_password(o); }) == wire);
      break;
    case p::auth_request::md5_password: {
      PGF_FUZZ_CHECK(a.data.size() == 4);
      const std::span<const std::uint8_t, 4> salt(a.data.data(), 4);
      PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_authentication_md5_password(o, salt); }) == wire);
      break;
    }
    case p::auth_request::sasl: {
      std::vector<std::string_view> mechanisms;
      if (!p::decode_sasl_mechanisms(a.data, mechanisms)) {
        std::vector<std::string> names;
        for (auto m : mechanisms) {
          PGF_FUZZ_CHECK(!m.empty() && within(body, m));
          names.emplace_back(m);
        }
        PGF_FUZZ_CHECK(encoded([&](std::string& o) {
                         p::encode_authentication_sasl(o, std::span<const std::string>(names));
                       }) == wire);
      }
      break;
    }
    case p::auth_request::sasl_continue:
      PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_authentication_sasl_continue(o, view(a.data)); }) ==
                     wire);
      break;
    case p::auth_request::sasl_final:
      PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_authentication_sasl_final(o, view(a.data)); }) == wire);
      break;
    default:
      break;
  }
}

inline void decode_parameter_status(p::byte_span body) {
  p::parameter_status ps;
  if (!p::decode_parameter_status(body, ps)) {
    PGF_FUZZ_CHECK(within(body, ps.name) && within(body, ps.value));
    PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_parameter_status(o, ps.name, ps.value); }) ==
                   tagged_wire('S', body));
  }
}

inline void decode_backend_key_data(p::byte_span body) {
  p::backend_key_data k;
  if (!p::decode_backend_key_data(body, k)) {
    PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_backend_key_data(o, k.process_id, k.secret_key); }) ==
                   tagged_wire('K', body));
  }
}

inline void decode_ready_for_query(p::byte_span body) {
  p::transaction_status st{};
  if (!p::decode_ready_for_query(body, st)) {
    PGF_FUZZ_CHECK(encoded([&](std::string& o) { p::encode_ready_for_query(o, st); }) == tagged_wire('Z', body));
  }
}

inline void decode_error_response(std::uint8_t tag, p::byte_span body) {
  p::error_fields f;
  if (p::decode_error_response(body, f)) return;
  for (auto s : {f.severity, f.severity_v, f.code, f.message, f.detail, f.hint}) PGF_FUZZ_CHECK(within(body, s));
  // Re-encoding the fields the pooler knows and decoding again gives the same fields back.
  const p::error_message e{f.severity, f.code, f.message, f.detail, f.hint};
  const std::string again = encoded([&](std::string& o) {
    if (tag == 'N') {
      p::encode_notice_response(o, e);
    } else {
      p::encode_error_response(o, e);
    }
  });
  const p::frame_reader reader(p::phase::tagged, p::direction::backend, 0xffffffffu);
  const auto r = reader.next(p::byte_span(reinterpret_cast<const std::uint8_t*>(again.data()), again.size()));
  PGF_FUZZ_CHECK(r.status == p::frame_status::complete && r.msg.size == again.size() && r.msg.tag == tag);
  p::error_fields g;
  PGF_FUZZ_CHECK(!p::decode_error_response(r.msg.body, g));
  PGF_FUZZ_CHECK(g.severity == f.severity && g.severity_v == f.severity && g.code == f.code &&
                 g.message == f.message && g.detail == f.detail && g.hint == f.hint);
}

// Every backend decoder for `tag`.
inline void decode_backend(std::uint8_t tag, p::byte_span body) {
  switch (tag) {
    case 'R': decode_authentication(body); break;
    case 'S': decode_parameter_status(body); break;
    case 'K': decode_backend_key_data(body); break;
    case 'Z': decode_ready_for_query(body); break;
    case 'D': decode_data_row(body); break;
    case 'E':
    case 'N': decode_error_response(tag, body); break;
    default: break;  // forwarded without decoding
  }
}

// ---- the frame reader -------------------------------------------------------------------------------------

// Checks what next() says about the front of `buffer` against the reader's contract and peek_header().
inline void check_frame_result(const p::frame_reader& reader, p::direction d, p::byte_span buffer,
                               const p::frame_result& r) {
  const bool startup = reader.current_phase() == p::phase::startup;
  const std::size_t header = startup ? 4 : p::tagged_header_size;
  const auto h = reader.peek_header(buffer);
  switch (r.status) {
    case p::frame_status::complete: {
      PGF_FUZZ_CHECK(!r.ec);
      PGF_FUZZ_CHECK(r.msg.size <= buffer.size() && r.msg.size <= reader.max_length());
      PGF_FUZZ_CHECK(r.msg.body.data() == buffer.data() + header && r.msg.body.size() == r.msg.size - header);
      if (startup) {
        PGF_FUZZ_CHECK(r.msg.tag == 0 && r.msg.length == r.msg.size);
        PGF_FUZZ_CHECK(r.msg.size >= p::startup_header_size && r.msg.size <= p::max_startup_packet_length);
      } else {
        PGF_FUZZ_CHECK(r.msg.tag == buffer[0] && r.msg.length + std::size_t{1} == r.msg.size && r.msg.length >= 4);
        PGF_FUZZ_CHECK(d == p::direction::frontend ? p::is_frontend_tag(r.msg.tag) : p::is_backend_tag(r.msg.tag));
      }
      PGF_FUZZ_CHECK(h.status == p::frame_status::complete && h.msg.size == r.msg.size && h.msg.tag == r.msg.tag &&
                     h.msg.length == r.msg.length);
      break;
    }
    case p::frame_status::incomplete:
      PGF_FUZZ_CHECK(!r.ec && r.needed > buffer.size() && r.needed >= header);
      if (buffer.size() >= header) {
        PGF_FUZZ_CHECK(h.status == p::frame_status::complete && h.msg.size == r.needed);
      } else {
        PGF_FUZZ_CHECK(h.status == p::frame_status::incomplete && h.needed == header);
      }
      break;
    case p::frame_status::error:
      PGF_FUZZ_CHECK(r.ec && r.ec.category() == p::error_category());
      PGF_FUZZ_CHECK(h.status == p::frame_status::error && h.ec == r.ec);
      break;
  }
}

}  // namespace pgfunnel::fuzz
