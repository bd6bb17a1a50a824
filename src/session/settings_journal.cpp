// The transaction rules of PostgreSQL's GUCs, applied to the SETs a pooled client makes.
#include "pgfunnel/session/settings_journal.hpp"

#include <algorithm>

namespace pgfunnel::session {

void settings_journal::on_query(session_sql sql, std::uint32_t owed_before) {
  // Replies to earlier requests recorded here are counted from their own entries.
  for (const auto &q : queries_) owed_before -= std::min(owed_before, q.owed_before + 1);
  queries_.push_back(query{std::move(sql), owed_before, 0, false});
}

bool settings_journal::on_statement_done(std::string_view tag) {
  if (queries_.empty() || queries_.front().owed_before > 0) {
    // A statement not read here: an Execute of the extended protocol. Its tag
    // still says whether it ended the transaction.
    if (levels_.empty()) return false;
    if (tag == "COMMIT") {
      if (failed_)
        drop_all();
      else
        commit_all();
    } else if (tag == "ROLLBACK") {
      extended_rollback_ = true;  // ROLLBACK, or ROLLBACK TO: ReadyForQuery tells
    } else if (tag == "SAVEPOINT" || tag == "RELEASE") {
      uncertain_ = true;  // which savepoint is not known
    }
    return false;
  }
  query &q = queries_.front();
  const std::uint32_t index = q.done++;
  for (const auto &c : q.sql.changes)
    if (c.statement == index) apply(c);
  return true;
}

void settings_journal::apply(const setting_change &c) {
  switch (c.kind) {
    case setting_change::set:
    case setting_change::reset:
    case setting_change::reset_all:
    case setting_change::discard_all:
      if (levels_.empty()) levels_.emplace_back();
      levels_.back().changes.push_back(c);
      return;
    case setting_change::commit:
      if (failed_)
        drop_all();  // COMMIT of a failed transaction rolls it back
      else
        commit_all();
      failed_ = false;  // AND CHAIN goes on in a new transaction
      return;
    case setting_change::rollback:
      drop_all();
      failed_ = false;
      return;
    case setting_change::savepoint:
      // Only while changes are pending: rolling back to an older savepoint
      // drops everything pending, which is what an unknown name does below.
      if (!levels_.empty()) levels_.push_back(level{c.name, {}});
      return;
    case setting_change::release:
    case setting_change::rollback_to: {
      // The newest savepoint of that name (PostgreSQL allows duplicates).
      auto it = std::find_if(levels_.rbegin(), levels_.rend(),
                             [&](const level &l) { return !l.savepoint.empty() && l.savepoint == c.name; });
      if (c.kind == setting_change::rollback_to) {
        failed_ = false;
        if (it == levels_.rend()) {
          drop_all();  // older than every pending change
          return;
        }
        const auto keep = static_cast<std::size_t>(levels_.rend() - it);  // up to and with the savepoint
        levels_.resize(keep);
        levels_.back().changes.clear();  // the savepoint itself stays
        return;
      }
      if (it == levels_.rend()) return;  // older than every pending change: nothing moves
      // Level 0 is the transaction's own: a savepoint's level is never first.
      const auto at = static_cast<std::size_t>(levels_.rend() - it) - 1;
      // Its changes and those of the savepoints above it join the enclosing level.
      for (std::size_t i = at; i < levels_.size(); ++i)
        for (auto &ch : levels_[i].changes) levels_[at - 1].changes.push_back(std::move(ch));
      levels_.resize(at);
      return;
    }
    case setting_change::unknown:
      uncertain_ = true;
      return;
  }
}

void settings_journal::commit_all() {
  for (auto &l : levels_)
    for (auto &c : l.changes) committed_.push_back(std::move(c));
  levels_.clear();
}

void settings_journal::on_ready_for_query(protocol::transaction_status status) {
  if (!queries_.empty()) {
    query &q = queries_.front();
    if (q.owed_before > 0) {
      --q.owed_before;
    } else {
      // Every statement answered, or an error ended the query early.
      // Replies that do not match the statements read: which changes ran is not known. (Only
      // when there are changes: a query of another dialect, say standard_conforming_strings off,
      // may split differently and harms nothing else.)
      const bool matters = !q.sql.changes.empty() || !levels_.empty();
      if (matters && (q.sql.statements == 0 || (!failed_ && q.done != q.sql.statements))) uncertain_ = true;
      queries_.erase(queries_.begin());
    }
  }
  switch (status) {
    case protocol::transaction_status::idle:
      // The transaction (explicit, or the request's implicit one) ended.
      if (failed_ || extended_rollback_)
        drop_all();
      else
        commit_all();
      failed_ = false;
      extended_rollback_ = false;
      return;
    case protocol::transaction_status::failed:
      failed_ = true;
      return;
    default:
      if (extended_rollback_) {
        // A ROLLBACK TO of the extended protocol: which savepoint is not known.
        if (!levels_.empty()) uncertain_ = true;
        extended_rollback_ = false;
      }
      return;
  }
}

void settings_journal::clear() noexcept {
  levels_.clear();
  queries_.clear();
  committed_.clear();
  failed_ = extended_rollback_ = uncertain_ = false;
}

}  // namespace pgfunnel::session
