// libFuzzer target: random client messages and plausible server replies through the statement rewriter across leases.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/protocol/bytes.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/session/prepared_statements.hpp"

namespace p = pgfunnel::protocol;
namespace s = pgfunnel::session;

namespace {

#define FZ_CHECK(cond)                                                                 \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

constexpr std::array<std::string_view, 4> names = {"", "a", "b", "S0"};
constexpr std::array<std::string_view, 4> texts = {"SELECT 1", "SELECT 2", "SELECT $1", "fail"};
constexpr std::array<std::string_view, 6> queries = {"DEALLOCATE ALL", "discard all ;", "DEALLOCATE a",
                                                     "DEALLOCATE \"S0\"", "SELECT 1; DEALLOCATE ALL", "SELECT 1"};
constexpr std::string_view reply_tags = "123tTnDCIsEZGHdcNSAWV";

std::string_view pick(FuzzedDataProvider& fdp, auto const& list) {
  return list[fdp.ConsumeIntegralInRange<std::size_t>(0, list.size() - 1)];
}

// Every byte string the rewriter hands out must be whole messages.
void check_whole_messages(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    FZ_CHECK(bytes.size() - pos >= 5);
    const auto len = p::load_u32(reinterpret_cast<const std::uint8_t*>(bytes.data() + pos + 1));
    FZ_CHECK(len >= 4 && len - 4 <= bytes.size() - pos - 5);
    pos += 1 + len;
  }
}

// A Parse of a named statement: what adds to the server's cache (the unnamed statement, re-sent
// for a client whose "" the server does not hold, never does).
bool has_named_parse(std::string_view bytes) {
  for (std::size_t pos = 0; pos + 5 <= bytes.size();) {
    if (bytes[pos] == 'P' && pos + 5 < bytes.size() && bytes[pos + 5] != '\0') return true;
    pos += 1 + p::load_u32(reinterpret_cast<const std::uint8_t*>(bytes.data() + pos + 1));
  }
  return false;
}

// One client message, well formed or (now and then) a raw body.
void client_message(FuzzedDataProvider& fdp, std::uint8_t& tag, std::string& body) {
  body.clear();
  const int kind = fdp.ConsumeIntegralInRange<int>(0, 13);
  switch (kind) {
    case 0: {
      tag = 'P';
      std::string m;
      const std::string oids = fdp.ConsumeBool() ? std::string("\0\0\0\x17", 4) : std::string();
      p::encode_parse(m, pick(fdp, names), pick(fdp, texts), p::byte_span(reinterpret_cast<const std::uint8_t*>(oids.data()), oids.size()),
                      static_cast<std::int16_t>(oids.size() / 4));
      body = m.substr(5);
      return;
    }
    case 1:
      tag = 'B';
      body = std::string(pick(fdp, names)) + '\0' + std::string(pick(fdp, names)) + '\0' +
             fdp.ConsumeBytesAsString(fdp.ConsumeIntegralInRange<std::size_t>(0, 8));
      return;
    case 2:
    case 3:
      tag = kind == 2 ? 'D' : 'C';
      body.push_back(fdp.ConsumeBool() ? 'S' : 'P');
      body += pick(fdp, names);
      body.push_back('\0');
      return;
    case 4:
      tag = 'E';
      body = std::string(pick(fdp, names)) + std::string("\0\0\0\0\0", 5);
      return;
    case 5:
    case 6:
      tag = 'S';
      return;
    case 7:
      tag = 'H';
      return;
    case 8:
      tag = 'Q';
      body = std::string(pick(fdp, queries)) + '\0';
      return;
    case 9:
      tag = static_cast<std::uint8_t>("dcfF"[fdp.ConsumeIntegralInRange<int>(0, 3)]);
      return;
    default:
      // Malformed bodies of the messages the rewriter decodes.
      tag = static_cast<std::uint8_t>("PBDCQ"[fdp.ConsumeIntegralInRange<int>(0, 4)]);
      body = fdp.ConsumeBytesAsString(fdp.ConsumeIntegralInRange<std::size_t>(0, 12));
      return;
  }
}

void server_message(FuzzedDataProvider& fdp, std::uint8_t& tag, std::string& body) {
  body.clear();
  tag = static_cast<std::uint8_t>(reply_tags[fdp.ConsumeIntegralInRange<std::size_t>(0, reply_tags.size() - 1)]);
  if (tag == 'E') {
    std::string m;
    p::encode_error_response(m, {"ERROR", fdp.ConsumeBool() ? "34000" : "42601", "x"});
    body = m.substr(5);
  } else if (tag == 'Z') {
    body = "I";
  } else if (tag == 'C') {
    body = fdp.ConsumeBool() ? std::string("SELECT 1\0", 9) : std::string("PREPARE\0", 8);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const std::size_t capacity = fdp.ConsumeIntegralInRange<std::size_t>(0, 6);
  std::array<s::client_statements, 2> clients;
  std::vector<std::unique_ptr<s::server_statements>> servers;
  for (int i = 0; i < 3; ++i) servers.push_back(std::make_unique<s::server_statements>(capacity));
  const std::size_t bound = capacity == 0 ? 1 : capacity;

  std::string body, to_server, to_client;
  while (fdp.remaining_bytes() > 0) {
    auto& client = clients[fdp.ConsumeIntegralInRange<std::size_t>(0, 1)];
    auto& server = *servers[fdp.ConsumeIntegralInRange<std::size_t>(0, 2)];
    s::statement_rewriter rw(client, server);
    std::size_t fed = 0;
    const auto steps = fdp.ConsumeIntegralInRange<int>(1, 40);
    for (int i = 0; i < steps && fdp.remaining_bytes() > 0; ++i) {
      std::uint8_t tag = 0;
      to_server.clear();
      to_client.clear();
      const std::size_t before = rw.planned();
      const std::size_t held = server.size();
      if (fdp.ConsumeBool()) {
        client_message(fdp, tag, body);
        ++fed;
        rw.on_client_message(tag, p::byte_span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()),
                             to_server, to_client);
        // One message plans at most: a Close of an unknown name, the evictions (down to the bound),
        // a Parse, itself.
        FZ_CHECK(rw.planned() <= before + (held > bound ? held : bound) + 3);
      } else {
        server_message(fdp, tag, body);
        rw.on_server_message(tag, p::byte_span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()),
                             to_client);
        FZ_CHECK(rw.planned() <= before);  // replies only ever consume the plan
      }
      check_whole_messages(to_server);
      check_whole_messages(to_client);
      // Known statements never exceed the bound. Maybe-present ones can, briefly, after an error
      // undoes evictions in a pipeline that also held an unconfirmable DEALLOCATE; the next Parse
      // sent to that server closes them first.
      FZ_CHECK(server.known_count() <= bound);
      if (has_named_parse(to_server)) FZ_CHECK(server.size() <= bound);
      if (rw.idle()) FZ_CHECK(rw.planned() == 0);
    }
  }
  return 0;
}
