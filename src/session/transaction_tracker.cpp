// The release rule of transaction pooling, as a counter of owed ReadyForQuery messages.
#include "pgfunnel/session/transaction_tracker.hpp"

namespace pgfunnel::session {

void transaction_tracker::push_sync_point(bool is_query) noexcept {
  if (known_kinds_ != owed_ || owed_ >= 64) {
    // Deeper than the kind record (or behind entries that were); only COPY needs the kinds, and a
    // COPY answering an unrecorded entry marks the stream uncertain (see on_server_message).
  } else {
    if (is_query) {
      query_bits_ |= (std::uint64_t{1} << owed_);
    } else {
      query_bits_ &= ~(std::uint64_t{1} << owed_);
    }
    ++known_kinds_;
  }
  ++owed_;
}

bool transaction_tracker::oldest_is_query() const noexcept { return (query_bits_ & 1) != 0; }

void transaction_tracker::on_client_message(std::uint8_t tag) noexcept {
  switch (tag) {
    case 'Q':
      if (copy_in_) uncertain_ = true;  // the server rejects it mid-COPY; we stop predicting
      push_sync_point(true);
      break;
    case 'F':
      push_sync_point(false);
      break;
    case 'S':
      unsynced_ = false;
      push_sync_point(false);
      break;
    case 'P': case 'B': case 'D': case 'E': case 'C':
      unsynced_ = true;
      break;
    case 'c': case 'f':
      if (copy_in_) {
        // The server ignored every Sync the client sent while it was in copy-in mode: all sync
        // points sent after the one that started the copy (and that one too, for an extended-query
        // COPY, whose own Sync arrived during the copy).
        // Every owed sync point besides a Query that started the copy was sent after the copy began
        // (earlier ones were answered before the CopyInResponse). Only the newest entries go, so the
        // kind bits need no shift.
        owed_ = copy_by_query_ ? (owed_ > 0 ? 1 : 0) : 0;
        if (known_kinds_ > owed_) known_kinds_ = owed_;
        // An extended-query COPY leaves its batch open: the server answers CopyDone with
        // CommandComplete (CopyFail with ErrorResponse, then skips to a Sync) and owes no
        // ReadyForQuery until the client's next Sync, which libpq sends right after.
        if (!copy_by_query_) unsynced_ = true;
        copy_in_ = false;
      }
      break;
    default:
      break;  // d (CopyData), H (Flush), p: no reply of their own
  }
}

void transaction_tracker::on_server_message(std::uint8_t tag) noexcept {
  switch (tag) {
    case 'G':
      // CopyInResponse answers the oldest owed request: a Query, or an Execute whose Sync (if the
      // client sent it yet) is the oldest owed sync point.
      if (owed_ > 0 && known_kinds_ == 0) uncertain_ = true;  // the kind record is too short to say which
      copy_in_ = true;
      copy_by_query_ = owed_ > 0 && oldest_is_query();
      break;
    case 'H':
      copy_out_ = true;
      break;
    case 'c':
      copy_out_ = false;
      break;
    case 'W':
      uncertain_ = true;  // copy-both (replication) has no place in transaction pooling
      break;
    case 'E':
      // An error ends copy-out and copy-in; ReadyForQuery follows. The client's later CopyData,
      // CopyDone and CopyFail are dropped by the server. Only a Query-started copy with nothing
      // pipelined behind it stays predictable; otherwise the Syncs sent meanwhile are unaccounted.
      copy_out_ = false;
      if (copy_in_) {
        if (!(copy_by_query_ && owed_ == 1)) uncertain_ = true;
        copy_in_ = false;
      }
      break;
    default:
      break;
  }
}

void transaction_tracker::on_ready_for_query(protocol::transaction_status status) noexcept {
  status_ = status;
  if (owed_ == 0) {
    uncertain_ = true;  // an answer nobody asked for
    return;
  }
  --owed_;
  query_bits_ >>= 1;
  if (known_kinds_ > 0) --known_kinds_;
}

}  // namespace pgfunnel::session
