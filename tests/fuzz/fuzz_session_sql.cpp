// libFuzzer target: the SET/RESET recogniser, the settings journal, the session-object scan, the settings replay and the RESET-to-startup rewrite on arbitrary client SQL text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "pgfunnel/session/parameters.hpp"
#include "pgfunnel/session/session_objects.hpp"
#include "pgfunnel/session/session_settings.hpp"
#include "pgfunnel/session/settings_journal.hpp"
#include "pgfunnel/session/startup_resets.hpp"

namespace s = pgfunnel::session;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto parsed = s::classify_session_sql(sql, &s::is_tracked_parameter);
  (void)s::scan_session_objects(sql);
  s::session_settings client, server;
  for (const auto& c : parsed.changes) {
    if (c.kind == s::setting_change::set) {
      // A followed SET is replayed inside a batch: it must be one statement, with no way to end
      // the batch early or comment out what follows it.
      if (c.text.find("--") != std::string::npos && c.text.find('\'') == std::string::npos &&
          c.text.find('"') == std::string::npos) {
        std::fprintf(stderr, "comment in a followed SET: %s\n", c.text.c_str());
        std::abort();
      }
      if (c.name.empty()) std::abort();
    }
    if (c.statement >= parsed.statements && parsed.statements != 0) std::abort();
    client.apply(c);
  }
  s::settings_journal journal;
  journal.on_query(parsed, 0);
  for (std::uint32_t i = 0; i < parsed.statements; ++i) journal.on_statement_done("SET");
  journal.on_ready_for_query(pgfunnel::protocol::transaction_status::idle);
  for (const auto& c : parsed.changes)
    if (c.kind == s::setting_change::set) server.apply(c);
  (void)client.replay_from(server);
  (void)server.replay_from(client);

  // A rewritten RESET: never fewer statements than the client's, and replies that follow every
  // statement of it leave nothing pending.
  s::parameter_set startup, defaults;
  startup.set("datestyle", "Postgres, MDY");
  startup.set("search_path", "a'b, \\c");
  defaults.set("DateStyle", "ISO, MDY");
  s::startup_resets resets;
  std::string rewritten;
  if (resets.on_query(sql, startup, defaults, size % 2 == 0, 0, rewritten)) {
    const auto again = s::classify_session_sql(rewritten, &s::is_tracked_parameter);
    if (again.statements < parsed.statements) std::abort();
    for (std::uint32_t i = 0; i < again.statements; ++i) {
      (void)resets.on_server_message('T');
      (void)resets.on_server_message('C', "SELECT 0");
    }
    (void)resets.on_server_message('Z');
    if (!resets.idle()) std::abort();
  }
  return 0;
}
