// libFuzzer target: the SET/RESET recogniser, the session-object scan and the settings replay on arbitrary client SQL text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "pgfunnel/session/parameters.hpp"
#include "pgfunnel/session/session_objects.hpp"
#include "pgfunnel/session/session_settings.hpp"

namespace s = pgfunnel::session;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto parsed = s::classify_session_sql(sql, &s::is_tracked_parameter);
  (void)s::scan_session_objects(sql);
  if (parsed.kind == s::session_sql::set) {
    // A followed SET is replayed inside a batch: it must be one statement, with no way to end
    // the batch early or comment out what follows it.
    if (parsed.statement.find("--") != std::string::npos && parsed.statement.find('\'') == std::string::npos &&
        parsed.statement.find('"') == std::string::npos) {
      std::fprintf(stderr, "comment in a followed SET: %s\n", parsed.statement.c_str());
      std::abort();
    }
    if (parsed.name.empty()) std::abort();
  }
  s::session_settings client, server;
  client.apply(parsed);
  server.apply(s::classify_session_sql("SET search_path TO x", &s::is_tracked_parameter));
  (void)client.replay_from(server);
  (void)server.replay_from(client);
  return 0;
}
