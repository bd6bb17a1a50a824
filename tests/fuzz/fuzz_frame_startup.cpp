// libFuzzer target: drains a client's byte stream from the startup phase (limit from byte 0), decoding each packet.
#include <cstddef>
#include <cstdint>

#include "decode_all.hpp"

namespace p = pgfunnel::protocol;
namespace fz = pgfunnel::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  p::frame_reader reader(p::phase::startup, p::direction::frontend, fz::limit_from(data[0]));
  p::byte_span buffer(data + 1, size - 1);
  // SSLRequest / GSSENCRequest keep the startup phase; a good StartupMessage moves to the tagged phase,
  // as the session does, so what follows is read as frontend messages.
  for (;;) {
    const auto r = reader.next(buffer);
    fz::check_frame_result(reader, p::direction::frontend, buffer, r);
    if (r.status != p::frame_status::complete) break;
    if (reader.current_phase() == p::phase::startup) {
      p::startup_packet packet;
      const auto ec = fz::decode_startup_checked(r.msg.body, packet);
      if (!ec && packet.kind == p::startup_kind::startup_message) reader.set_phase(p::phase::tagged);
    } else {
      fz::decode_frontend(r.msg.tag, r.msg.body);
    }
    buffer = buffer.subspan(r.msg.size);
  }
  return 0;
}
