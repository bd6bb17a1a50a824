// libFuzzer target: the admin console's command parser (SHOW/PAUSE/KILL_CLIENT ...) on arbitrary simple-query text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pgfunnel/admin/commands.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto parsed = pgfunnel::admin::parse_command(sql);
  (void)parsed;
  (void)pgfunnel::admin::parse_client_id(sql);
  (void)pgfunnel::admin::is_console_database(sql);
  return 0;
}
