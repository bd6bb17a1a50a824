// Statement naming, the per-client name map, the per-server LRU cache and the DEALLOCATE/DISCARD recogniser.
#include <openssl/evp.h>

#include <atomic>
#include <cctype>

#include "pgfunnel/session/prepared_statements.hpp"

#include "sql_cursor.hpp"

namespace pgfunnel::session {

std::string server_statement_name(std::string_view query, protocol::byte_span parameter_types_raw) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  // The NUL separates the text from the types, as in the Parse message itself: no two statements
  // feed the same bytes to the hash.
  const unsigned char nul = 0;
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, query.data(), query.size()) == 1 && EVP_DigestUpdate(ctx, &nul, 1) == 1 &&
                  EVP_DigestUpdate(ctx, parameter_types_raw.data(), parameter_types_raw.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1 && digest_len >= 8;
  EVP_MD_CTX_free(ctx);
  if (!ok) std::abort();  // SHA-256 is always there; a broken libcrypto is not a state to run in
  static constexpr char hex[] = "0123456789abcdef";
  std::string name = "pgf_";
  for (int i = 0; i < 8; ++i) {
    name.push_back(hex[digest[i] >> 4]);
    name.push_back(hex[digest[i] & 15]);
  }
  name.push_back('_');
  name += std::to_string(query.size());
  return name;
}

// ---- client_statements --------------------------------------------------------------------------

const client_statement* client_statements::find(std::string_view name) const noexcept {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : &it->second;
}

bool client_statements::insert(std::string_view name, client_statement s) {
  return map_.try_emplace(std::string(name), std::move(s)).second;
}

std::optional<client_statement> client_statements::take(std::string_view name) {
  auto it = map_.find(name);
  if (it == map_.end()) return std::nullopt;
  std::optional<client_statement> s(std::move(it->second));
  map_.erase(it);
  return s;
}

void client_statements::erase_generation(std::string_view name, std::uint64_t generation) {
  auto it = map_.find(name);
  if (it != map_.end() && it->second.generation == generation) map_.erase(it);
}

client_statements::map_type client_statements::take_all() noexcept {
  map_type out;
  out.swap(map_);
  return out;
}

void client_statements::restore(map_type&& saved) {
  // Names prepared since (later in the pipeline) win: they were created after the DEALLOCATE.
  for (auto& [name, s] : saved) map_.try_emplace(name, std::move(s));
  saved.clear();
}

// ---- server_statements --------------------------------------------------------------------------

// A cache of one entry would still work (each statement evicts the previous); zero could not hold
// the statement a Bind is about to use.
server_statements::server_statements(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

void server_statements::touch(std::string_view name) {
  auto it = index_.find(name);
  if (it != index_.end()) lru_.splice(lru_.begin(), lru_, it->second);
}

void server_statements::add(std::string_view name) {
  resolve_unknown(name);
  if (known(name)) {
    touch(name);
    return;
  }
  lru_.emplace_front(name);
  index_.emplace(lru_.front(), lru_.begin());
}

void server_statements::forget(std::string_view name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  auto node = it->second;
  index_.erase(it);  // the key views the node's string: erase it before the node
  lru_.erase(node);
}

void server_statements::mark_unknown(std::string_view name) {
  forget(name);
  unknown_.emplace(name);
}

void server_statements::resolve_unknown(std::string_view name) {
  auto it = unknown_.find(name);
  if (it != unknown_.end()) unknown_.erase(it);
}

std::optional<std::string> server_statements::pop_victim() {
  // Unknown names first: closing them costs nothing anyone uses and settles what the server holds.
  if (!unknown_.empty()) {
    auto node = unknown_.extract(unknown_.begin());
    return std::move(node.value());
  }
  if (lru_.empty()) return std::nullopt;
  std::string victim = lru_.back();
  forget(victim);
  return victim;
}

std::vector<std::string> server_statements::all_to_unknown() {
  std::vector<std::string> moved;
  moved.reserve(lru_.size());
  index_.clear();
  for (auto& name : lru_) {
    moved.push_back(name);
    unknown_.insert(std::move(name));
  }
  lru_.clear();
  return moved;
}

void server_statements::forget_unknown(const std::vector<std::string>& names) {
  for (const auto& n : names) resolve_unknown(n);
}

void server_statements::clear() {
  index_.clear();
  lru_.clear();
  unknown_.clear();
}

std::uint64_t next_unnamed_stamp() noexcept {
  static std::atomic<std::uint64_t> counter{0};
  // Never 0 (no statement) nor ~0 (unknown): 2^64 Parses away.
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

// ---- SQL recogniser -----------------------------------------------------------------------------


statement_sql classify_statement_sql(std::string_view sql) {
  using detail::mentions_word;
  using detail::sql_cursor;
  statement_sql out;
  sql_cursor c{sql};
  c.skip_space();
  if (c.keyword("deallocate")) {
    c.skip_space();
    const std::size_t after = c.pos;
    if (c.keyword("prepare")) {
      c.skip_space();
    }
    const std::size_t before_all = c.pos;
    if (c.keyword("all") && c.at_statement_end()) {
      out.kind = statement_sql::deallocate_all;
      return out;
    }
    c.pos = before_all;
    if (auto name = c.identifier(); name && c.at_statement_end()) {
      out.kind = statement_sql::deallocate_one;
      out.name = std::move(*name);
      return out;
    }
    // "DEALLOCATE prepare;" deallocates a statement called prepare.
    c.pos = after;
    if (auto name = c.identifier(); name && *name == "prepare" && c.at_statement_end()) {
      out.kind = statement_sql::deallocate_one;
      out.name = std::move(*name);
      return out;
    }
  } else if (c.keyword("discard")) {
    c.skip_space();
    if (c.keyword("all") && c.at_statement_end()) {
      out.kind = statement_sql::discard_all;
      return out;
    }
  }
  // Anything else that may drop statements on the server (a multi-statement batch, a DO block, a
  // comment before DEALLOCATE): we cannot know, so the server's cache stops trusting itself.
  if (mentions_word(sql, "deallocate") || mentions_word(sql, "discard")) out.kind = statement_sql::maybe_deallocates;
  return out;
}

}  // namespace pgfunnel::session
