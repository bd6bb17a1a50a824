// Named prepared statements across transaction-pooled servers: client name maps, server caches, the rewriter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pgfunnel/protocol/bytes.hpp"

namespace pgfunnel::session {

// The server-side name of a statement: "pgf_" + 16 hex digits of SHA-256(query, types) + "_" + the
// query's length. Derived from the statement alone, so any server can hold it for any client and
// clients preparing the same text share it; a cryptographic hash because a collision would run one
// client's statement for another (a client can craft FNV collisions, not SHA-256 ones). 31 bytes at
// most: under PostgreSQL's 63-byte identifier limit.
std::string server_statement_name(std::string_view query, protocol::byte_span parameter_types_raw);

// Transparent hashing so lookups by string_view do not build a std::string.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// What executing a statement does to prepared statements (DEALLOCATE / DISCARD sent through the
// extended protocol, as pgjdbc and psycopg 3 do): applied when a portal is bound from it.
struct statement_deallocation {
  enum kind_t : std::uint8_t { none, all, one, maybe } kind = none;
  std::string name;  // one: the client's statement it drops
};

// One client's named statement.
struct client_statement {
  std::string server_name;
  std::string server_parse;     // the whole Parse message with server_name: re-prepares it anywhere
  std::uint64_t generation = 0;  // tells a re-created mapping from the one an undo refers to
  statement_deallocation deallocation;
};

// Stamps tell one unnamed Parse from every other, of any client: a server's unnamed statement is a
// client's while both carry the same stamp. Drawn from one process-wide counter.
std::uint64_t next_unnamed_stamp() noexcept;

// A client's unnamed statement: the Parse that made it (as sent to servers), re-sent to a server
// whose unnamed statement is not this one. stamp 0: the client has none (PostgreSQL drops it at
// the client's next simple Query, a Close of it, or a failed Parse of "").
struct unnamed_statement {
  std::string parse;
  std::uint64_t stamp = 0;
  statement_deallocation deallocation;
};

// Per client: client name → statement. Lives as long as the client session, across leases.
class client_statements {
 public:
  using map_type = std::unordered_map<std::string, client_statement, string_hash, std::equal_to<>>;

  unnamed_statement& unnamed() noexcept { return unnamed_; }
  const unnamed_statement& unnamed() const noexcept { return unnamed_; }

  const client_statement* find(std::string_view name) const noexcept;
  // False (and no change) when the name is taken.
  bool insert(std::string_view name, client_statement s);
  std::optional<client_statement> take(std::string_view name);
  // Erases `name` only while it is still the mapping of that generation.
  void erase_generation(std::string_view name, std::uint64_t generation);
  map_type take_all() noexcept;
  // Puts back the entries of `saved` whose names are free (an undone DEALLOCATE ALL).
  void restore(map_type&& saved);
  std::size_t size() const noexcept { return map_.size(); }
  std::uint64_t next_generation() noexcept { return ++generation_; }

 private:
  map_type map_;
  std::uint64_t generation_ = 0;
  unnamed_statement unnamed_;
};

// Per server connection: the server names it has prepared (known), most recently used first, and
// names it may or may not hold (unknown: after a DEALLOCATE whose outcome we cannot be sure of).
// known + unknown never exceeds the capacity, so the server's own count never does either.
class server_statements {
 public:
  static constexpr std::size_t default_capacity = 200;
  explicit server_statements(std::size_t capacity = default_capacity);
  server_statements(const server_statements&) = delete;
  server_statements& operator=(const server_statements&) = delete;

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return lru_.size() + unknown_.size(); }  // what the server may hold
  std::size_t known_count() const noexcept { return lru_.size(); }
  bool known(std::string_view name) const noexcept { return index_.find(name) != index_.end(); }
  bool maybe(std::string_view name) const noexcept { return unknown_.find(name) != unknown_.end(); }

  void touch(std::string_view name);                      // a use: becomes most recent
  void add(std::string_view name);                        // known, most recent (leaves unknown)
  void forget(std::string_view name);                     // it is not on the server
  void mark_unknown(std::string_view name);               // it may be on the server
  void resolve_unknown(std::string_view name);            // about to be closed: no longer unknown
  std::optional<std::string> pop_victim();                // an unknown one first, else the LRU one
  std::vector<std::string> all_to_unknown();              // a DEALLOCATE may have dropped them all
  void forget_unknown(const std::vector<std::string>& names);  // ... and it did
  void clear();  // DEALLOCATE ALL ran on the server outside the rewriter's view

  // Whose unnamed statement the server holds: a client's stamp, no_unnamed, or unknown_unnamed
  // (anything, another client's included). Any simple Query pgfunnel itself sends drops it.
  static constexpr std::uint64_t no_unnamed = 0;
  static constexpr std::uint64_t unknown_unnamed = ~std::uint64_t{0};
  std::uint64_t unnamed() const noexcept { return unnamed_; }
  void set_unnamed(std::uint64_t stamp) noexcept { unnamed_ = stamp; }

 private:
  std::size_t capacity_;
  std::list<std::string> lru_;  // front = most recent; nodes never move in memory, so index_ keys stay valid
  std::unordered_map<std::string_view, std::list<std::string>::iterator, string_hash, std::equal_to<>> index_;
  std::unordered_set<std::string, string_hash, std::equal_to<>> unknown_;
  std::uint64_t unnamed_ = no_unnamed;  // a new backend has none
};

// The client's simple-Query SQL, as far as prepared statements care. Exact and small on purpose:
// anything else that mentions DEALLOCATE/DISCARD is `maybe_deallocates`.
struct statement_sql {
  enum kind_t : std::uint8_t { other, deallocate_all, discard_all, deallocate_one, maybe_deallocates } kind = other;
  std::string name;  // deallocate_one: the identifier, folded as PostgreSQL folds it
};
statement_sql classify_statement_sql(std::string_view sql);

struct statement_counters {
  std::uint64_t hits = 0;       // a named Parse/Bind/Describe found its statement on the server
  std::uint64_t misses = 0;     // a Parse was sent for a named statement (the client's or injected)
  std::uint64_t injected = 0;   // ... of which injected before a Bind/Describe (statement moved server)
  std::uint64_t evictions = 0;  // a Close sent to keep the server's cache bounded
};

// Whether the client's message goes to the server as it is.
enum class client_verdict : std::uint8_t {
  forward,   // send `to_server` (injected messages, maybe empty) and then the original message
  replaced,  // send only `to_server`: it replaces the message (empty: the message is consumed)
};

// One lease of one client on one server: rewrites the client's messages and plans the server's replies.
// Feed it every whole client message in order and every server message in order; it never touches a socket.
class statement_rewriter {
 public:
  statement_rewriter(client_statements& client, server_statements& server) noexcept
      : client_(client), server_(server) {}
  statement_rewriter(const statement_rewriter&) = delete;
  statement_rewriter& operator=(const statement_rewriter&) = delete;

  // `to_server` gets bytes to send to the server; `to_client` gets synthesised replies that are due
  // now (nothing is outstanding before them). Both are appended to.
  client_verdict on_client_message(std::uint8_t tag, protocol::byte_span body, std::string& to_server,
                                   std::string& to_client);

  // True: forward this server message to the client; false: swallow it. Then send `to_client_after`
  // (synthesised replies, or the replacement of a swallowed error), appended to.
  bool on_server_message(std::uint8_t tag, protocol::byte_span body, std::string& to_client_after);

  bool idle() const noexcept { return plan_.empty() && !server_skipping_; }
  std::size_t planned() const noexcept { return plan_.size(); }
  // The stream did something this plan cannot follow (a reply nothing asked for, copy-both, a
  // pipeline through COPY): replies keep flowing, but the server should be closed after the lease.
  bool uncertain() const noexcept { return uncertain_; }
  const statement_counters& counters() const noexcept { return counters_; }

 private:
  enum class step_kind : std::uint8_t {
    synthetic, parse, bind, describe_statement, describe_portal, execute, close, sync, query
  };
  // What to put back when a step's message was skipped by the server or failed.
  struct undo {
    enum kind_t : std::uint8_t { unmap_client, restore_client, restore_client_map, forget_server, server_unknown };
    undo(kind_t k, std::string n = {}, std::uint64_t g = 0) : kind(k), name(std::move(n)), generation(g) {}
    kind_t kind;
    std::string name;
    std::uint64_t generation = 0;
    std::optional<client_statement> statement;
    client_statements::map_type saved;
  };
  struct step {
    explicit step(step_kind k, bool f = true) : kind(k), forward(f) {}
    step_kind kind;
    bool forward;
    bool swallow_first_command_complete = false;  // the PREPARE half of a rewritten DEALLOCATE name
    bool saw_error = false;
    bool unnamed = false;     // parse / close of the unnamed statement: the server's changes
    std::uint64_t stamp = 0;  // unnamed parse: the stamp it gives the server's unnamed statement
    unnamed_statement before;  // the client's unnamed Parse: its unnamed statement until then
    std::string server_name;  // bind / describe_statement of a client's named statement
    std::string bytes;  // synthetic: the reply; execute: the error replacing the server's (42P05)
    std::vector<undo> undos;
    std::vector<std::string> ghosts;  // exact DEALLOCATE ALL / DISCARD ALL: names it drops on success
  };

  void plan(step_kind kind, bool forward = true) { plan_.emplace_back(kind, forward); }
  void synthesise(std::string bytes, std::vector<undo> undos);
  void drain(std::string& to_client);
  void apply(std::vector<undo>& undos);
  void drop_until_sync();
  void ensure_on_server(const client_statement& s, std::string& to_server);
  void ensure_unnamed_on_server(std::string& to_server);
  void send_parse(std::string_view server_name, std::string_view parse_bytes, bool forward,
                  std::vector<undo> undos, std::string& to_server);
  client_verdict on_parse(protocol::byte_span body, std::string& to_server);
  void on_bind_deallocation(const statement_deallocation& d, std::string& to_server);
  client_verdict on_query(protocol::byte_span body, std::string& to_server);
  void end_copy_in();
  bool finish_front(std::string& to_client_after);

  client_statements& client_;
  server_statements& server_;
  std::deque<step> plan_;
  statement_counters counters_;
  std::vector<undo> execute_undos_;  // a bound deallocation, put back if its Execute fails
  bool server_skipping_ = false;  // the server failed a batch whose Sync the client has not sent yet
  bool copy_in_ = false;          // the server is in copy-in mode (CopyInResponse seen)
  bool uncertain_ = false;
};

}  // namespace pgfunnel::session
