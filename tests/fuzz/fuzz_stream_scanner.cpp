// libFuzzer target: relays random chunks through stream_scanner both ways, checked against a whole-stream frame walk.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "pgfunnel/protocol/frame.hpp"
#include "pgfunnel/protocol/tags.hpp"
#include "pgfunnel/session/stream_scanner.hpp"
#include "pgfunnel/session/transaction_tracker.hpp"

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

constexpr std::string_view frontend_tags = "BCdcfDEHFPpQSX";
constexpr std::string_view backend_tags = "RK23CdcGHWDIEVvnNAtS1sZT";

// What a frame reader sees walking the whole stream at once: the reference the chunked scan must match.
struct ref_message {
  std::size_t offset;
  std::uint8_t tag;
  std::uint32_t length;
  std::size_t size;
};
struct reference {
  std::vector<ref_message> messages;  // every message whose header is in the stream
  std::size_t end = 0;                // where the walk stopped (error, split header, or stream end)
  std::error_code ec;
};

reference walk(const std::vector<std::uint8_t>& stream, p::direction d, std::uint32_t max_length) {
  reference ref;
  const p::frame_reader reader(p::phase::tagged, d, max_length);
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const auto h = reader.peek_header(p::byte_span(stream).subspan(pos));
    if (h.status == p::frame_status::error) {
      ref.ec = h.ec;
      break;
    }
    if (h.status == p::frame_status::incomplete) break;
    ref.messages.push_back({pos, h.msg.tag, h.msg.length, h.msg.size});
    if (h.msg.size > stream.size() - pos) break;  // the body runs past the stream
    pos += h.msg.size;
  }
  ref.end = std::min(pos, stream.size());
  return ref;
}

// One relay direction: the stream, its reference, the kept bytes, and what has gone through.
struct direction_state {
  p::direction dir;
  std::vector<std::uint8_t> stream;
  reference ref;
  s::stream_scanner scanner;
  std::vector<std::uint8_t> kept;
  std::size_t fed = 0;       // stream bytes handed to the relay so far
  std::size_t forwarded = 0;  // stream bytes forwarded so far
  std::size_t visits = 0;
  std::size_t last_stop = SIZE_MAX;
  bool failed = false;

  direction_state(p::direction d, std::vector<std::uint8_t> bytes, std::uint32_t max_length, std::size_t limit)
      : dir(d), stream(std::move(bytes)), ref(walk(stream, d, max_length)), scanner(d, max_length, limit) {}
};

struct visitor {
  direction_state& st;
  s::transaction_tracker& tracker;
  std::uint64_t wanted;      // bit i: the i-th tag of the direction's list is wanted whole
  std::uint32_t stop_mask;   // stop (once) at visit i when bit i % 32 is set
  std::size_t inspect_limit;
  const std::uint8_t* base;  // the scanned buffer
  std::size_t base_offset;   // its first byte's offset in the stream

  bool wants_whole(std::uint8_t tag) const {
    const auto tags = st.dir == p::direction::frontend ? frontend_tags : backend_tags;
    const auto i = tags.find(static_cast<char>(tag));
    FZ_CHECK(i != std::string_view::npos);  // the scanner only asks about valid tags
    return ((wanted >> i) & 1) != 0;
  }

  bool on_message(const s::scanned_message& m) {
    FZ_CHECK(st.visits < st.ref.messages.size());
    const ref_message& r = st.ref.messages[st.visits];
    FZ_CHECK(m.tag == r.tag);
    FZ_CHECK(m.length == r.length);
    if (m.complete) {
      FZ_CHECK(m.body.size() == r.size - p::tagged_header_size);
      // The body lies where the reference says, inside the scanned buffer; reading all of it lets
      // ASan catch a view past the buffer's end.
      const std::size_t at = static_cast<std::size_t>(m.body.data() - base) + base_offset;
      FZ_CHECK(at == r.offset + p::tagged_header_size);
      FZ_CHECK(m.body.empty() || std::memcmp(m.body.data(), st.stream.data() + at, m.body.size()) == 0);
    } else {
      FZ_CHECK(m.body.empty());
      // A wanted message that fits the limit is only ever seen whole.
      FZ_CHECK(!(wants_whole(m.tag) && r.size <= inspect_limit));
    }
    if ((stop_mask >> (st.visits % 32)) & 1 && st.last_stop != st.visits) {
      st.last_stop = st.visits;
      return false;
    }
    ++st.visits;
    if (st.dir == p::direction::frontend) {
      tracker.on_client_message(m.tag);
    } else {
      tracker.on_server_message(m.tag);
      if (m.tag == 'Z' && m.complete && m.body.size() == 1 &&
          (m.body[0] == 'I' || m.body[0] == 'T' || m.body[0] == 'E'))
        tracker.on_ready_for_query(static_cast<p::transaction_status>(m.body[0]));
    }
    return true;
  }
};

void check_tracker(const s::transaction_tracker& t, bool& was_uncertain) {
  if (t.releasable()) {
    FZ_CHECK(t.drained());
    FZ_CHECK(!t.uncertain());
    FZ_CHECK(t.status() == p::transaction_status::idle);
  }
  if (t.drained()) FZ_CHECK(t.owed_ready_for_query() == 0 && !t.unsynced() && !t.in_copy_in() && !t.in_copy_out());
  if (was_uncertain) FZ_CHECK(t.uncertain());  // uncertainty never goes away
  was_uncertain = t.uncertain();
}

// Hands `n` more stream bytes to the relay of one direction and scans until it waits for more.
void feed(direction_state& st, std::size_t n, s::transaction_tracker& tracker, std::uint64_t wanted,
          std::uint32_t stop_mask, std::size_t limit, bool& was_uncertain) {
  if (st.failed) return;
  n = std::min(n, st.stream.size() - st.fed);
  st.kept.insert(st.kept.end(), st.stream.begin() + static_cast<std::ptrdiff_t>(st.fed),
                 st.stream.begin() + static_cast<std::ptrdiff_t>(st.fed + n));
  st.fed += n;
  for (;;) {
    const std::size_t size = st.kept.size();
    if (size == 0) return;
    // An exactly sized heap copy: any read past it is an ASan report.
    std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[size]);
    std::memcpy(buffer.get(), st.kept.data(), size);
    const std::size_t buffer_offset = st.fed - size;
    FZ_CHECK(buffer_offset == st.forwarded);
    visitor v{st, tracker, wanted, stop_mask, limit, buffer.get(), buffer_offset};
    const s::scan_result r = st.scanner.scan(p::byte_span(buffer.get(), size), v);
    check_tracker(tracker, was_uncertain);
    FZ_CHECK(r.forward <= size);
    FZ_CHECK(r.forward + r.keep <= size);
    FZ_CHECK(std::memcmp(buffer.get(), st.stream.data() + st.forwarded, r.forward) == 0);
    st.forwarded += r.forward;
    if (r.ec) {
      FZ_CHECK(r.ec == st.ref.ec);
      FZ_CHECK(st.forwarded == st.ref.end);
      FZ_CHECK(st.visits == st.ref.messages.size());
      st.failed = true;
      return;
    }
    if (r.stopped) {
      FZ_CHECK(r.keep == 0);
      FZ_CHECK(st.scanner.at_boundary());
      FZ_CHECK(st.visits < st.ref.messages.size());
      FZ_CHECK(st.forwarded == st.ref.messages[st.visits].offset);
      st.kept.erase(st.kept.begin(), st.kept.begin() + static_cast<std::ptrdiff_t>(r.forward));
      continue;  // resumed: the visitor takes it this time
    }
    FZ_CHECK(r.forward + r.keep == size);
    // Kept bytes are a split header or a held message that fits the limit.
    FZ_CHECK(r.keep < p::tagged_header_size || r.keep < limit);
    if (r.keep > 0) FZ_CHECK(st.scanner.at_boundary());
    st.kept.erase(st.kept.begin(), st.kept.begin() + static_cast<std::ptrdiff_t>(r.forward));
    return;
  }
}

void finish(direction_state& st, std::uint64_t wanted, std::size_t limit) {
  if (st.failed) return;
  FZ_CHECK(!st.ref.ec);  // with every byte fed, the scan meets any framing error the walk met
  FZ_CHECK(st.forwarded + st.kept.size() == st.stream.size());
  // Every message with its header in the stream was visited, except a final one held back whole.
  std::size_t expect = st.ref.messages.size();
  std::uint64_t owed = 0;
  if (expect > 0) {
    const auto& last = st.ref.messages.back();
    const bool truncated = last.offset + last.size > st.stream.size();
    const auto tags = st.dir == p::direction::frontend ? frontend_tags : backend_tags;
    const bool held = ((wanted >> tags.find(static_cast<char>(last.tag))) & 1) != 0 && last.size <= limit;
    if (truncated && held) {
      --expect;
      FZ_CHECK(st.forwarded == last.offset);
    } else if (truncated) {
      owed = last.offset + last.size - st.stream.size();
      FZ_CHECK(st.forwarded == st.stream.size());
    }
  }
  FZ_CHECK(st.visits == expect);
  // The scanner still owes exactly the body bytes of a final message cut off by the stream's end.
  FZ_CHECK(st.scanner.body_remaining() == owed);
  FZ_CHECK(st.scanner.at_boundary() == (owed == 0));
}

// Structured mode: a stream of well-formed messages of the direction, with the odd malformed one.
std::vector<std::uint8_t> build_stream(FuzzedDataProvider& fdp, p::direction d, std::size_t count) {
  const auto tags = d == p::direction::frontend ? frontend_tags : backend_tags;
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < count && fdp.remaining_bytes() > 0; ++i) {
    const std::uint8_t pick = fdp.ConsumeIntegral<std::uint8_t>();
    if (pick == 0xff) {  // a malformed header: raw bytes
      const auto junk = fdp.ConsumeBytes<std::uint8_t>(5);
      out.insert(out.end(), junk.begin(), junk.end());
      continue;
    }
    const char tag = tags[pick % tags.size()];
    std::vector<std::uint8_t> body;
    if (tag == 'Z') {
      body.push_back(static_cast<std::uint8_t>("ITE"[fdp.ConsumeIntegralInRange<int>(0, 2)]));
    } else {
      body = fdp.ConsumeBytes<std::uint8_t>(fdp.ConsumeIntegralInRange<std::size_t>(0, 80));
    }
    const auto length = static_cast<std::uint32_t>(body.size() + 4);
    out.push_back(static_cast<std::uint8_t>(tag));
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(length >> shift));
    out.insert(out.end(), body.begin(), body.end());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const bool structured = fdp.ConsumeBool();
  const std::size_t limit = fdp.ConsumeIntegralInRange<std::size_t>(0, 300);
  const std::uint32_t max_length =
      fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<std::uint32_t>(0, 200) : (1u << 20);
  const auto wanted = fdp.ConsumeIntegral<std::uint64_t>();
  const auto stop_mask = fdp.ConsumeIntegral<std::uint32_t>();
  const std::size_t max_chunk = fdp.ConsumeIntegralInRange<std::size_t>(1, 300);
  std::uint32_t chunk_seed = fdp.ConsumeIntegral<std::uint32_t>();

  std::vector<std::uint8_t> client_bytes, server_bytes;
  if (structured) {
    const auto n = fdp.ConsumeIntegralInRange<std::size_t>(0, 64);
    client_bytes = build_stream(fdp, p::direction::frontend, n);
    server_bytes = build_stream(fdp, p::direction::backend, 64);
  } else {
    client_bytes = fdp.ConsumeBytes<std::uint8_t>(fdp.ConsumeIntegralInRange<std::size_t>(0, fdp.remaining_bytes()));
    server_bytes = fdp.ConsumeRemainingBytes<std::uint8_t>();
  }

  direction_state client(p::direction::frontend, std::move(client_bytes), max_length, limit);
  direction_state server(p::direction::backend, std::move(server_bytes), max_length, limit);
  s::transaction_tracker tracker;
  bool was_uncertain = false;

  // Alternate reads between the two directions, each of a pseudo-random size.
  while (client.fed < client.stream.size() || server.fed < server.stream.size()) {
    chunk_seed = chunk_seed * 1664525u + 1013904223u;
    const std::size_t n = 1 + (chunk_seed >> 8) % max_chunk;
    direction_state& st = (chunk_seed & 1) ? client : server;
    if (st.fed == st.stream.size()) continue;
    if (st.failed) {
      st.fed = st.stream.size();
      continue;
    }
    feed(st, n, tracker, wanted, stop_mask, limit, was_uncertain);
  }
  finish(client, wanted, limit);
  finish(server, wanted, limit);
  return 0;
}
