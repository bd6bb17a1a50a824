// Unit tests of the transaction tracker: owed ReadyForQuery, open batches, COPY in/out, the release rule.
#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

#include "pgfunnel/protocol/tags.hpp"
#include "pgfunnel/session/transaction_tracker.hpp"

namespace pgfunnel::test {
namespace {

using protocol::transaction_status;
using session::transaction_tracker;

// Feeds the tracker as the relay does: client tags as they are forwarded, server tags, and for 'Z'
// the decoded status ("Z" followed by its status letter in the server string: "CZI" = C, Z(I)).
class tracker_driver {
 public:
  transaction_tracker t;

  void client(std::string_view tags) {
    for (char c : tags) t.on_client_message(static_cast<std::uint8_t>(c));
  }
  void server(std::string_view tags) {
    for (std::size_t i = 0; i < tags.size(); ++i) {
      const auto tag = static_cast<std::uint8_t>(tags[i]);
      t.on_server_message(tag);
      if (tag == 'Z') {
        ASSERT_LT(i + 1, tags.size()) << "Z needs a status letter";
        t.on_ready_for_query(static_cast<transaction_status>(tags[++i]));
      }
    }
  }
};

TEST(TransactionTracker, FreshTrackerIsReleasable) {
  transaction_tracker t;
  EXPECT_TRUE(t.releasable());
  EXPECT_TRUE(t.drained());
  EXPECT_EQ(t.owed_ready_for_query(), 0u);
  EXPECT_FALSE(t.uncertain());
  EXPECT_EQ(t.status(), transaction_status::idle);
}

TEST(TransactionTracker, SimpleQueryReleasableAfterReadyForQueryIdle) {
  tracker_driver d;
  d.client("Q");
  EXPECT_FALSE(d.t.releasable());
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("TDDC");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, TransactionBlockHoldsUntilCommit) {
  tracker_driver d;
  d.client("Q");  // BEGIN
  d.server("CZT");
  EXPECT_FALSE(d.t.releasable());
  EXPECT_TRUE(d.t.drained());
  EXPECT_EQ(d.t.status(), transaction_status::in_transaction);
  d.client("Q");  // INSERT
  d.server("CZT");
  EXPECT_FALSE(d.t.releasable());
  d.client("Q");  // COMMIT
  EXPECT_FALSE(d.t.releasable());
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ErrorInTransactionKeepsTheLease) {
  tracker_driver d;
  d.client("Q");  // BEGIN
  d.server("CZT");
  d.client("Q");  // a failing statement
  d.server("EZE");
  EXPECT_EQ(d.t.status(), transaction_status::failed);
  EXPECT_FALSE(d.t.releasable());
  EXPECT_TRUE(d.t.drained());
  d.client("Q");  // ROLLBACK
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ErrorOutsideTransactionIsReleasable) {
  tracker_driver d;
  d.client("Q");
  d.server("EZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, PipelinedQueriesReleasableOnlyAfterTheLastReply) {
  tracker_driver d;
  d.client("QQQ");
  EXPECT_EQ(d.t.owed_ready_for_query(), 3u);
  d.server("CZI");
  EXPECT_FALSE(d.t.releasable());
  EXPECT_EQ(d.t.owed_ready_for_query(), 2u);
  d.server("CZI");
  EXPECT_FALSE(d.t.releasable());
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, FunctionCallOwesReadyForQuery) {
  tracker_driver d;
  d.client("F");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  EXPECT_FALSE(d.t.releasable());
  d.server("VZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ExtendedBatchReleasableAfterSyncReply) {
  tracker_driver d;
  d.client("PBDE");
  EXPECT_TRUE(d.t.unsynced());
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  EXPECT_FALSE(d.t.releasable());
  EXPECT_FALSE(d.t.drained());
  d.client("S");
  EXPECT_FALSE(d.t.unsynced());
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("12TDC");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, CloseMessageOpensABatchToo) {
  tracker_driver d;
  d.client("C");
  EXPECT_TRUE(d.t.unsynced());
  d.client("S");
  d.server("3ZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, UnsyncedBatchNotReleasableAfterEarlierReply) {
  tracker_driver d;
  d.client("Q");
  d.client("PBE");  // no Sync yet
  d.server("CZI");  // answers the Query
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  EXPECT_TRUE(d.t.unsynced());
  EXPECT_FALSE(d.t.releasable());
  EXPECT_FALSE(d.t.drained());
  d.client("S");
  d.server("12CZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, FlushDoesNotChangeOwed) {
  tracker_driver d;
  d.client("PBDEH");
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  EXPECT_TRUE(d.t.unsynced());
  d.server("12TDC");  // what the Flush pushed out
  EXPECT_FALSE(d.t.releasable());
  d.client("H");
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  d.client("S");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.client("H");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, CopyFromStdinBySimpleQuery) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  EXPECT_TRUE(d.t.in_copy_in());
  EXPECT_FALSE(d.t.releasable());
  d.client("dd");
  EXPECT_TRUE(d.t.in_copy_in());
  d.client("c");
  EXPECT_FALSE(d.t.in_copy_in());
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);  // the Query's own ReadyForQuery is still to come
  EXPECT_FALSE(d.t.releasable());
  d.server("C");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, CopyFromStdinByExtendedQueryAsLibpqDoesIt) {
  tracker_driver d;
  d.client("PBDES");  // PQexecParams("COPY t FROM STDIN")
  d.server("12G");    // ParseComplete, BindComplete, CopyInResponse (no ReadyForQuery: the Sync is swallowed)
  EXPECT_TRUE(d.t.in_copy_in());
  EXPECT_FALSE(d.t.releasable());
  d.client("d");
  d.client("c");
  EXPECT_FALSE(d.t.releasable());
  d.client("S");  // libpq's extra Sync after CopyDone in extended mode
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  EXPECT_FALSE(d.t.releasable());
  d.server("C");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  EXPECT_FALSE(d.t.uncertain());
}

// After CopyDone the extended-query COPY's batch is open again (its Sync was swallowed): a relay
// that released the server there would hand the next client an open implicit transaction and a
// CommandComplete that is not its own.
TEST(TransactionTracker, ExtendedCopyEndLeavesTheBatchOpenUntilSync) {
  tracker_driver d;
  d.client("PBDES");
  d.server("12G");
  d.client("dc");
  EXPECT_TRUE(d.t.unsynced());
  EXPECT_FALSE(d.t.drained());
  d.server("C");  // CommandComplete arrives before the client's Sync
  EXPECT_FALSE(d.t.releasable());
  EXPECT_FALSE(d.t.drained());
  d.client("S");
  EXPECT_FALSE(d.t.unsynced());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
}

// The relay's clean-up when a client vanishes in the middle of an extended-query COPY: CopyFail,
// then a Sync because the batch is open, then wait for the ErrorResponse and ReadyForQuery.
TEST(TransactionTracker, CleanupAfterClientLeftDuringExtendedCopy) {
  tracker_driver d;
  d.client("PBDES");
  d.server("12G");
  d.client("d");
  ASSERT_TRUE(d.t.in_copy_in());
  d.client("f");  // what clean_up_after_client sends
  ASSERT_TRUE(d.t.unsynced()) << "the clean-up must also send a Sync";
  d.client("S");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  EXPECT_FALSE(d.t.releasable());
  d.server("E");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, SimpleCopyEndNeedsNoSync) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  d.client("dc");
  EXPECT_FALSE(d.t.unsynced());
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  d.client("Q");
  d.server("G");
  d.client("f");
  EXPECT_FALSE(d.t.unsynced());
  d.server("EZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ExtendedCopyAfterAnAnsweredBatch) {
  tracker_driver d;
  d.client("PBES");   // SELECT
  d.client("PBES");   // COPY FROM STDIN, pipelined
  d.server("12CZI");  // the SELECT
  EXPECT_FALSE(d.t.releasable());
  d.server("12G");
  d.client("dc");
  d.client("S");
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, SimpleCopyAfterAnAnsweredQuery) {
  tracker_driver d;
  d.client("QQ");  // SELECT 1; COPY FROM STDIN, pipelined
  d.server("TDCZI");
  d.server("G");
  d.client("dc");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, SyncDuringSimpleCopyIsSwallowed) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  d.client("dSHd");  // PostgreSQL ignores Sync and Flush in copy-in mode
  d.client("c");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, CopyFailBySimpleQuery) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  d.client("df");
  EXPECT_FALSE(d.t.in_copy_in());
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("E");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, CopyFailByExtendedQuery) {
  tracker_driver d;
  d.client("PBDES");
  d.server("12G");
  d.client("df");
  EXPECT_TRUE(d.t.unsynced());  // the server skips to the next Sync
  EXPECT_FALSE(d.t.releasable());
  d.client("S");
  d.server("E");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, CopyToStdout) {
  tracker_driver d;
  d.client("Q");
  d.server("H");
  EXPECT_TRUE(d.t.in_copy_out());
  EXPECT_FALSE(d.t.drained());
  d.server("dd");
  EXPECT_TRUE(d.t.in_copy_out());
  d.server("c");
  EXPECT_FALSE(d.t.in_copy_out());
  d.server("C");
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, ErrorDuringCopyOutEndsIt) {
  tracker_driver d;
  d.client("Q");
  d.server("Hd");
  d.server("E");
  EXPECT_FALSE(d.t.in_copy_out());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ErrorDuringCopyInBySimpleQuery) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  d.client("d");
  d.server("E");  // bad data: the copy ends on the server side
  EXPECT_FALSE(d.t.in_copy_in());
  EXPECT_FALSE(d.t.uncertain());
  EXPECT_FALSE(d.t.releasable());
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  // The client, not yet aware, ends its copy; the server drops these, no reply is owed.
  d.client("dc");
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ErrorAfterClientEndedSimpleCopy) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  d.client("dc");  // the client finished before the server complained
  d.server("E");
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, ErrorDuringExtendedCopyInIsUncertain) {
  tracker_driver d;
  d.client("PBDES");
  d.server("12G");
  d.client("d");
  d.server("E");
  EXPECT_TRUE(d.t.uncertain());
  EXPECT_FALSE(d.t.releasable());
}

TEST(TransactionTracker, QueryDuringCopyInIsUncertain) {
  tracker_driver d;
  d.client("Q");
  d.server("G");
  d.client("Q");
  EXPECT_TRUE(d.t.uncertain());
  EXPECT_FALSE(d.t.releasable());
}

TEST(TransactionTracker, CopyBothIsUncertain) {
  tracker_driver d;
  d.client("Q");
  d.server("W");
  EXPECT_TRUE(d.t.uncertain());
  d.server("ZI");
  EXPECT_FALSE(d.t.releasable());
  EXPECT_TRUE(d.t.uncertain());
}

TEST(TransactionTracker, UnaskedReadyForQueryIsUncertain) {
  tracker_driver d;
  d.server("ZI");
  EXPECT_TRUE(d.t.uncertain());
  EXPECT_FALSE(d.t.releasable());
  EXPECT_EQ(d.t.owed_ready_for_query(), 0u);
  // Uncertainty sticks: a later well-formed exchange does not make the server reusable.
  d.client("Q");
  d.server("CZI");
  EXPECT_FALSE(d.t.releasable());
}

TEST(TransactionTracker, InjectedSyncPoint) {
  tracker_driver d;
  d.t.on_injected_sync_point();  // e.g. the pooler's SET batch or ROLLBACK
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  EXPECT_FALSE(d.t.releasable());
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, InjectedSyncPointBehindClientQuery) {
  tracker_driver d;
  d.client("Q");
  d.t.on_injected_sync_point();
  d.server("CZT");
  EXPECT_FALSE(d.t.releasable());
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, DrainedVersusReleasableInTransaction) {
  tracker_driver d;
  d.client("PBES");  // BEGIN by extended protocol
  d.server("12CZT");
  EXPECT_TRUE(d.t.drained());
  EXPECT_FALSE(d.t.releasable());
  EXPECT_EQ(d.t.status(), transaction_status::in_transaction);
  // The relay's clean-up: ROLLBACK, then reusable.
  d.client("Q");
  EXPECT_FALSE(d.t.drained());
  d.server("CZI");
  EXPECT_TRUE(d.t.drained());
  EXPECT_TRUE(d.t.releasable());
}

TEST(TransactionTracker, ManyPipelinedSyncsCountedExactly) {
  tracker_driver d;
  for (int i = 0; i < 200; ++i) d.client("PBES");
  EXPECT_EQ(d.t.owed_ready_for_query(), 200u);
  for (int i = 0; i < 199; ++i) {
    d.server("2CZI");
    ASSERT_FALSE(d.t.releasable()) << i;
  }
  d.server("2CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

// A simple-query COPY at position 65 of a pipeline, beyond the 64 sync-point kinds the tracker
// records. Whatever the tracker does there (exact tracking or giving up), it must never call the
// server reusable while a reply is still on its way.
TEST(TransactionTracker, DeepPipelineCopyNeverReleasesEarly) {
  tracker_driver d;
  for (int i = 0; i < 65; ++i) d.client("Q");  // the 65th is COPY t FROM STDIN
  for (int i = 0; i < 64; ++i) d.server("CZI");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("G");
  d.client("dc");
  d.client("Q");  // one more query after the copy
  d.server("CZI");  // the COPY's own reply: the last Query's is still owed
  EXPECT_FALSE(d.t.releasable());
  d.server("CZI");
  if (!d.t.uncertain()) {
    EXPECT_TRUE(d.t.releasable());
  }
}

TEST(TransactionTracker, DeepPipelineThenCopyAfterDrainIsExact) {
  tracker_driver d;
  for (int i = 0; i < 100; ++i) d.client("Q");
  for (int i = 0; i < 100; ++i) d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  // The kind record is whole again once nothing is owed.
  d.client("Q");
  d.server("G");
  d.client("dc");
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("CZI");
  EXPECT_TRUE(d.t.releasable());
  EXPECT_FALSE(d.t.uncertain());
}

TEST(TransactionTracker, UnknownTagsAreIgnored) {
  tracker_driver d;
  d.client("pdX");
  EXPECT_TRUE(d.t.releasable());
  d.client("Q");
  d.server("NASKtTnIs");  // notices, notifications, ParameterStatus, ... owe nothing
  EXPECT_EQ(d.t.owed_ready_for_query(), 1u);
  d.server("ZI");
  EXPECT_TRUE(d.t.releasable());
}

}  // namespace
}  // namespace pgfunnel::test
