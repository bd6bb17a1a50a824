// Decides when a leased server can go back to the pool: every request answered and the last status idle.
#pragma once

#include <cstdint>

#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::session {

// Fed the tags of whole client messages (as they are forwarded) and the server's replies. It counts
// the ReadyForQuery messages still owed: one per Query, Sync and FunctionCall, except Syncs the
// server swallows in copy-in mode.
class transaction_tracker {
 public:
  void on_client_message(std::uint8_t tag) noexcept;
  void on_server_message(std::uint8_t tag) noexcept;
  void on_ready_for_query(protocol::transaction_status status) noexcept;

  // The pooler itself sent a request that will be answered with ReadyForQuery (cleanup, SET batch).
  void on_injected_sync_point() noexcept { push_sync_point(false); }

  // Every request answered, no extended-protocol batch left open, no COPY running, outside a
  // transaction block.
  bool releasable() const noexcept {
    return owed_ == 0 && !unsynced_ && !copy_in_ && !copy_out_ && status_ == protocol::transaction_status::idle &&
           !uncertain_;
  }
  // Releasable except perhaps for the transaction status (for deciding between ROLLBACK and close).
  bool drained() const noexcept { return owed_ == 0 && !unsynced_ && !copy_in_ && !copy_out_; }

  std::uint32_t owed_ready_for_query() const noexcept { return owed_; }
  bool unsynced() const noexcept { return unsynced_; }
  bool in_copy_in() const noexcept { return copy_in_; }
  bool in_copy_out() const noexcept { return copy_out_; }
  protocol::transaction_status status() const noexcept { return status_; }
  // The stream did something this tracker cannot follow exactly (a copy-both, a Query inside COPY,
  // a pipeline deeper than it records): the server must be closed, not reused.
  bool uncertain() const noexcept { return uncertain_; }

 private:
  void push_sync_point(bool is_query) noexcept;
  bool oldest_is_query() const noexcept;

  std::uint32_t owed_ = 0;          // ReadyForQuery messages still to come
  std::uint64_t query_bits_ = 0;    // bit i: the i-th oldest owed sync point is a simple Query
  std::uint32_t known_kinds_ = 0;   // how many of the oldest owed sync points query_bits_ records
  bool unsynced_ = false;           // extended-protocol messages sent since the last Sync
  bool copy_in_ = false;            // server sent CopyInResponse; client has not ended the copy
  bool copy_out_ = false;           // server sent CopyOutResponse; CopyDone not yet seen
  bool copy_by_query_ = false;      // the running copy-in was started by a simple Query
  bool uncertain_ = false;
  protocol::transaction_status status_ = protocol::transaction_status::idle;
};

}  // namespace pgfunnel::session
