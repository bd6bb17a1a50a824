// A pooled client's working state while it holds a server, from a per-thread free list: idle clients carry none of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pgfunnel/session/prepared_statements.hpp"
#include "pgfunnel/session/session_settings.hpp"
#include "pgfunnel/session/settings_journal.hpp"
#include "pgfunnel/session/startup_resets.hpp"
#include "pgfunnel/session/stream_scanner.hpp"
#include "pgfunnel/session/transaction_tracker.hpp"

namespace pgfunnel::session {

// Everything here is meaningful only between a server's acquire and its release. Keeping it out of
// the session object is what makes an idle client small (thousands of serverless clients sit idle
// for each one in a transaction); recycling it per thread keeps the lease path free of allocation
// and keeps the strings' grown capacity for the next lease instead of in every idle session.
struct lease_scratch {
  lease_scratch(std::uint32_t max_message_size, std::size_t relay_capacity) noexcept;

  transaction_tracker tracker;
  stream_scanner client_scan;  // client → server
  stream_scanner server_scan;  // server → client
  std::size_t in_have = 0;     // bytes in the client → server relay buffer
  std::size_t out_have = 0;    // bytes in the server → client relay buffer
  std::optional<statement_rewriter> rewriter;
  std::string to_server;    // what the rewriter sends for one client message
  std::string synthetic;    // replies the rewriter owes the client now (from the client half)
  std::string after;        // replies the rewriter adds after one server message
  std::string in_scratch;   // spliced client → server output
  std::string out_scratch;  // spliced server → client output
  // A message larger than the relay buffer, read whole: one per direction, since both halves may
  // be reading one at the same time.
  std::string big_in;
  std::string big_out;
  // The client's SETs of this lease, until their transaction commits or rolls back.
  settings_journal settings;
  // RESETs of this lease rewritten to the client's startup values, until their replies are in.
  startup_resets resets;
  // The relay buffer's size: messages up to it are inspected whole, and a string grown past twice
  // that by one large message is freed rather than kept for the next lease.
  std::size_t relay_capacity;

  // Empties `s`, and frees it when one large message grew it past twice the relay buffer: what a
  // lease keeps between messages, and what the free list keeps between leases.
  void drop_if_grown(std::string& s) const noexcept {
    if (s.capacity() > 2 * relay_capacity)
      std::string().swap(s);
    else
      s.clear();
  }

  struct give_back {
    void operator()(lease_scratch* scratch) const noexcept;  // to this thread's free list
  };
  using ptr = std::unique_ptr<lease_scratch, give_back>;

  // A scratch as new: from this thread's free list when it has one.
  static ptr take(std::uint32_t max_message_size, std::size_t relay_capacity);
};

}  // namespace pgfunnel::session
