// libFuzzer target: drains tagged-phase bytes in both directions (limit from byte 0), decoding each frame.
#include <cstddef>
#include <cstdint>

#include "decode_all.hpp"

namespace p = pgfunnel::protocol;
namespace fz = pgfunnel::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint32_t limit = fz::limit_from(data[0]);
  for (auto d : {p::direction::frontend, p::direction::backend}) {
    const p::frame_reader reader(p::phase::tagged, d, limit);
    p::byte_span buffer(data + 1, size - 1);
    for (;;) {
      const auto r = reader.next(buffer);
      fz::check_frame_result(reader, d, buffer, r);
      if (r.status != p::frame_status::complete) break;
      if (d == p::direction::frontend) {
        fz::decode_frontend(r.msg.tag, r.msg.body);
      } else {
        fz::decode_backend(r.msg.tag, r.msg.body);
      }
      buffer = buffer.subspan(r.msg.size);
    }
  }
  return 0;
}
