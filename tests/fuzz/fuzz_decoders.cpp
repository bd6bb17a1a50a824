// libFuzzer target: feeds the whole input as a message body to every decoder, checking views and re-encodings.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "decode_all.hpp"

namespace p = pgfunnel::protocol;
namespace fz = pgfunnel::fuzz;

namespace {

void decode_everything(p::byte_span body) {
  p::startup_packet packet;
  (void)fz::decode_startup_checked(body, packet);
  for (std::uint8_t tag : {'Q', 'P', 'B', 'D', 'C', 'E', 'f', 'p'}) fz::decode_frontend(tag, body);
  for (std::uint8_t tag : {'R', 'S', 'K', 'Z', 'E', 'N'}) fz::decode_backend(tag, body);
  std::vector<std::string_view> mechanisms;
  if (!p::decode_sasl_mechanisms(body, mechanisms))
    for (auto m : mechanisms) PGF_FUZZ_CHECK(!m.empty() && fz::within(body, m));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // libFuzzer hands over a heap copy of exactly `size` bytes: ASan catches a read one past the body.
  decode_everything(p::byte_span(data, size));
  if (size == 0) decode_everything(p::byte_span{});  // an empty span with a null pointer
  return 0;
}
