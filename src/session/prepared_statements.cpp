// The statement rewriter: client messages → server bytes plus a reply plan; server replies → forward/swallow/synthesise.
#include "pgfunnel/session/prepared_statements.hpp"

#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/encode.hpp"

namespace pgfunnel::session {

namespace {

// A portal no client names: Executing it fails the batch on the server exactly where PostgreSQL
// would have failed the client's duplicate Parse, so the server skips to Sync and aborts an open
// transaction block just as a single PostgreSQL session would. Its error is replaced by 42P05.
constexpr std::string_view failing_portal = "pgfunnel.duplicate_statement";
// Rewritten `DEALLOCATE name` (the server does not know the client's name): a statement that
// yields CommandComplete "DEALLOCATE" and fails where the original would (aborted transaction).
constexpr std::string_view deallocate_stand_in =
    "PREPARE pgfunnel_deallocate AS SELECT 1; DEALLOCATE pgfunnel_deallocate";

std::string_view as_chars(protocol::byte_span s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

bool is_async(std::uint8_t tag) { return tag == 'N' || tag == 'S' || tag == 'A'; }

// "cached plan must not change result type" at a Bind/Describe: the statement's result columns
// changed. Matched by SQLSTATE alone (the message may be translated); another 0A000 there only
// costs a re-Parse.
bool is_stale_plan(const protocol::error_fields& f) { return f.code == "0A000"; }

}  // namespace

void statement_rewriter::synthesise(std::string bytes, std::vector<undo> undos) {
  step s(step_kind::synthetic);
  s.bytes = std::move(bytes);
  s.undos = std::move(undos);
  plan_.push_back(std::move(s));
}

// Synthesised replies at the head of the plan are due: everything before them has been answered.
void statement_rewriter::drain(std::string& to_client) {
  while (!plan_.empty() && plan_.front().kind == step_kind::synthetic) {
    to_client += plan_.front().bytes;
    plan_.pop_front();
  }
}

void statement_rewriter::apply(std::vector<undo>& undos) {
  for (auto it = undos.rbegin(); it != undos.rend(); ++it) {
    switch (it->kind) {
      case undo::unmap_client:
        client_.erase_generation(it->name, it->generation);
        break;
      case undo::restore_client:
        if (it->statement) client_.insert(it->name, std::move(*it->statement));
        break;
      case undo::restore_client_map:
        client_.restore(std::move(it->saved));
        break;
      case undo::forget_server:
        server_.forget(it->name);
        break;
      case undo::server_unknown:
        server_.mark_unknown(it->name);
        break;
    }
  }
  undos.clear();
}

// The server met an error at the front step: it skips every message up to the next Sync. Those
// steps, synthesised ones included, never happen; what they changed is put back, newest first.
void statement_rewriter::drop_until_sync() {
  std::size_t end = 0;
  while (end < plan_.size() && plan_[end].kind != step_kind::sync) ++end;
  for (std::size_t i = end; i-- > 0;) {
    apply(plan_[i].undos);
    const step& s = plan_[i];
    if (!s.unnamed) continue;
    // The server's unnamed statement is gone (its Parse failed) or is the one before (skipped):
    // not known. The client's own failed Parse (the front step, where the error came) leaves it
    // none, as PostgreSQL drops the old one first; one the server skipped, after an error earlier in
    // the same pipeline, leaves it the one before, which the next Bind re-sends where needed.
    server_.set_unnamed(server_statements::unknown_unnamed);
    auto& u = client_.unnamed();
    if (s.kind == step_kind::parse && s.forward && u.stamp == s.stamp)
      u = i == 0 ? unnamed_statement{} : std::move(plan_[i].before);
  }
  plan_.erase(plan_.begin(), plan_.begin() + static_cast<std::ptrdiff_t>(end));
  // No Sync yet: the client's next messages, up to its Sync, will be ignored by the server too.
  if (plan_.empty()) server_skipping_ = true;
}

void statement_rewriter::send_parse(std::string_view server_name, std::string_view parse_bytes, bool forward,
                                    std::vector<undo> undos, std::string& to_server) {
  if (server_.maybe(server_name)) {
    // The server may still hold it (a DEALLOCATE we could not confirm): a Close first makes the
    // Parse safe (closing a missing statement is no error).
    server_.resolve_unknown(server_name);
    protocol::encode_close(to_server, 'S', server_name);
    plan(step_kind::close, false);
    plan_.back().undos.push_back(undo(undo::server_unknown, std::string(server_name)));
  }
  while (server_.size() >= server_.capacity()) {
    auto victim = server_.pop_victim();
    if (!victim) break;
    ++counters_.evictions;
    protocol::encode_close(to_server, 'S', *victim);
    plan(step_kind::close, false);
    plan_.back().undos.push_back(undo(undo::server_unknown, std::move(*victim)));
  }
  server_.add(server_name);
  ++counters_.misses;
  to_server += parse_bytes;
  plan(step_kind::parse, forward);
  undos.push_back(undo(undo::forget_server, std::string(server_name)));
  plan_.back().undos = std::move(undos);
}

// Before a Bind/Describe of a statement: prepare it on this server if it is not there.
void statement_rewriter::ensure_on_server(const client_statement& s, std::string& to_server) {
  if (server_.known(s.server_name)) {
    server_.touch(s.server_name);
    ++counters_.hits;
    return;
  }
  ++counters_.injected;
  send_parse(s.server_name, s.server_parse, false, {}, to_server);
}

// Before a Bind/Describe of the unnamed statement: the server's must be this client's. When it is
// (the usual Parse/Bind/Execute/Sync), nothing is added.
void statement_rewriter::ensure_unnamed_on_server(std::string& to_server) {
  const unnamed_statement& u = client_.unnamed();
  if (u.stamp != 0 && server_.unnamed() == u.stamp) return;
  if (u.stamp != 0) {
    to_server += u.parse;
    plan(step_kind::parse, false);
    plan_.back().unnamed = true;
    plan_.back().stamp = u.stamp;
    server_.set_unnamed(u.stamp);
    return;
  }
  if (server_.unnamed() == server_statements::no_unnamed) return;  // the server says it does not exist
  // The client has none, the server may hold another client's: closed, so the server answers with
  // PostgreSQL's own "unnamed prepared statement does not exist".
  protocol::encode_close(to_server, 'S', "");
  plan(step_kind::close, false);
  plan_.back().unnamed = true;
  server_.set_unnamed(server_statements::no_unnamed);
}

client_verdict statement_rewriter::on_parse(protocol::byte_span body, std::string& to_server) {
  protocol::parse_message p;
  if (protocol::decode_parse(body, p)) {
    plan(step_kind::parse);  // malformed: the server will say so
    return client_verdict::forward;
  }
  // DEALLOCATE / DISCARD as a prepared statement: its effect comes when a portal is bound from it.
  // `DEALLOCATE name` names the client's statement, which the server knows by another name.
  statement_deallocation deallocation;
  std::string rewritten_query;
  switch (const auto what = classify_statement_sql(p.query); what.kind) {
    case statement_sql::deallocate_all:
    case statement_sql::discard_all:
      deallocation.kind = statement_deallocation::all;
      break;
    case statement_sql::deallocate_one:
      if (const client_statement* target = client_.find(what.name)) {
        deallocation.kind = statement_deallocation::one;
        deallocation.name = what.name;
        rewritten_query = "DEALLOCATE " + target->server_name;
        p.query = rewritten_query;
      }
      break;
    case statement_sql::maybe_deallocates:
      deallocation.kind = statement_deallocation::maybe;
      break;
    case statement_sql::other:
      break;
  }
  if (p.statement.empty()) {
    // Unnamed: untouched, unless it deallocates one of the client's names. Kept as the client's,
    // with a new stamp the server now carries too.
    unnamed_statement& u = client_.unnamed();
    plan(step_kind::parse);
    plan_.back().before = std::move(u);  // put back if the server skips this Parse
    u = {};
    u.deallocation = std::move(deallocation);
    u.stamp = next_unnamed_stamp();
    server_.set_unnamed(u.stamp);
    plan_.back().unnamed = true;
    plan_.back().stamp = u.stamp;
    if (rewritten_query.empty()) {
      protocol::message_builder(u.parse, 'P').raw(as_chars(body));
      return client_verdict::forward;
    }
    protocol::encode_parse(u.parse, "", p.query, p.parameter_types, p.parameter_count);
    to_server += u.parse;
    return client_verdict::replaced;
  }
  if (client_.find(p.statement) != nullptr) {
    // PostgreSQL: ERROR 42P05, then everything up to Sync skipped. The server produces the failure
    // (see failing_portal); the plan swaps its error for this one.
    protocol::message_builder(to_server, 'E').cstring(failing_portal).i32(0);
    plan(step_kind::execute, true);
    std::string msg = "prepared statement \"";
    msg += p.statement;
    msg += "\" already exists";
    protocol::encode_error_response(plan_.back().bytes, {"ERROR", "42P05", msg});
    return client_verdict::replaced;
  }
  client_statement s;
  s.server_name = server_statement_name(p.query, p.parameter_types);
  protocol::encode_parse(s.server_parse, s.server_name, p.query, p.parameter_types, p.parameter_count);
  s.generation = client_.next_generation();
  s.deallocation = std::move(deallocation);
  std::vector<undo> undos;
  undos.push_back(undo(undo::unmap_client, std::string(p.statement), s.generation));
  if (server_.known(s.server_name)) {
    server_.touch(s.server_name);
    ++counters_.hits;
    std::string reply;
    protocol::encode_parse_complete(reply);
    synthesise(std::move(reply), std::move(undos));
  } else {
    send_parse(s.server_name, s.server_parse, true, std::move(undos), to_server);
  }
  client_.insert(p.statement, std::move(s));
  return client_verdict::replaced;
}

client_verdict statement_rewriter::on_query(protocol::byte_span body, std::string& to_server) {
  std::string_view sql;
  if (protocol::decode_query(body, sql)) {
    plan(step_kind::query);
    server_.set_unnamed(server_statements::unknown_unnamed);
    return client_verdict::forward;
  }
  // PostgreSQL drops the unnamed statement at every simple Query: the client's, and the server's.
  client_.unnamed().stamp = 0;
  server_.set_unnamed(server_statements::no_unnamed);
  const auto what = classify_statement_sql(sql);
  switch (what.kind) {
    case statement_sql::deallocate_all:
    case statement_sql::discard_all: {
      // The client's statements go now; the server's go when it runs this, which it confirms with
      // CommandComplete: until then they are unknown (a Close precedes any re-Parse of them).
      plan(step_kind::query);
      auto& s = plan_.back();
      undo u(undo::restore_client_map);
      u.saved = client_.take_all();
      s.undos.push_back(std::move(u));
      s.ghosts = server_.all_to_unknown();
      return client_verdict::forward;
    }
    case statement_sql::deallocate_one: {
      auto taken = client_.take(what.name);
      if (!taken) break;  // not ours (an SQL PREPARE, or a mistake): the server answers
      protocol::encode_query(to_server, deallocate_stand_in);
      plan(step_kind::query);
      auto& s = plan_.back();
      s.swallow_first_command_complete = true;
      undo u(undo::restore_client, what.name);
      u.statement = std::move(taken);
      s.undos.push_back(std::move(u));
      return client_verdict::replaced;
    }
    case statement_sql::maybe_deallocates:
      server_.all_to_unknown();
      break;
    case statement_sql::other:
      break;
  }
  plan(step_kind::query);
  return client_verdict::forward;
}

// A portal is bound from a statement that deallocates: the client's names go now (PostgreSQL drops
// them when the portal runs, and the client reads its statements as gone from then on); the
// server's statements are gone too, or may be. The Execute that follows puts the client's names back
// if it fails.
void statement_rewriter::on_bind_deallocation(const statement_deallocation& d, std::string& to_server) {
  switch (d.kind) {
    case statement_deallocation::all: {
      undo u(undo::restore_client_map);
      u.saved = client_.take_all();
      execute_undos_.push_back(std::move(u));
      server_.all_to_unknown();
      break;
    }
    case statement_deallocation::one: {
      const client_statement* target = client_.find(d.name);
      if (target == nullptr) break;  // already gone: the server says so, naming our name
      // The rewritten DEALLOCATE drops the server's statement: it must be there first.
      ensure_on_server(*target, to_server);
      const std::string server_name = target->server_name;
      undo u(undo::restore_client, d.name);
      u.statement = client_.take(d.name);
      execute_undos_.push_back(std::move(u));
      server_.mark_unknown(server_name);
      break;
    }
    case statement_deallocation::maybe:
      server_.all_to_unknown();
      break;
    case statement_deallocation::none:
      break;
  }
}

// CopyDone/CopyFail: the server ignored every Sync sent while it was in copy-in mode, including
// ones sent before its CopyInResponse arrived, which are already planned behind the COPY's step.
void statement_rewriter::end_copy_in() {
  copy_in_ = false;
  if (plan_.empty()) return;
  for (auto it = plan_.begin() + 1; it != plan_.end();) {
    if (it->kind == step_kind::sync) {
      it = plan_.erase(it);
    } else {
      uncertain_ = true;  // a pipeline through COPY: the server fails it in ways we do not model
      ++it;
    }
  }
}

client_verdict statement_rewriter::on_client_message(std::uint8_t tag, protocol::byte_span body,
                                                     std::string& to_server, std::string& to_client) {
  if (server_skipping_ && tag != 'S' && tag != 'X') {
    // The server ignores it; so do we (no mapping changes, no replies planned).
    return client_verdict::replaced;
  }
  client_verdict verdict = client_verdict::forward;
  switch (tag) {
    case 'P':
      verdict = on_parse(body, to_server);
      break;
    case 'B': {
      protocol::bind_names names;
      const client_statement* s = nullptr;
      const bool decoded = !protocol::decode_bind_names(body, names);
      if (decoded && !names.statement.empty()) s = client_.find(names.statement);
      // An unknown name goes through unchanged: the server answers with PostgreSQL's own 26000
      // `prepared statement "x" does not exist`, naming the client's statement exactly.
      std::string server_name;
      statement_deallocation deallocation;
      if (s != nullptr) {
        ensure_on_server(*s, to_server);
        server_name = s->server_name;
        deallocation = s->deallocation;
      } else if (decoded && names.statement.empty()) {
        ensure_unnamed_on_server(to_server);
        if (client_.unnamed().stamp != 0) deallocation = client_.unnamed().deallocation;
      }
      if (deallocation.kind != statement_deallocation::none) on_bind_deallocation(deallocation, to_server);
      if (s != nullptr) {
        const std::size_t names_size = names.portal.size() + 1 + names.statement.size() + 1;
        protocol::message_builder(to_server, 'B')
            .cstring(names.portal)
            .cstring(server_name)
            .raw(as_chars(body.subspan(names_size)));
        verdict = client_verdict::replaced;
      }  // else forwarded after what was injected for it
      plan(step_kind::bind);
      plan_.back().server_name = std::move(server_name);
      break;
    }
    case 'D': {
      protocol::target_name t;
      const bool ok = !protocol::decode_describe(body, t);
      if (ok && t.kind == 'P') {
        plan(step_kind::describe_portal);
        break;
      }
      const client_statement* s = ok && !t.name.empty() ? client_.find(t.name) : nullptr;
      if (ok && t.name.empty()) ensure_unnamed_on_server(to_server);
      if (s != nullptr) {
        ensure_on_server(*s, to_server);
        protocol::message_builder(to_server, 'D').u8('S').cstring(s->server_name);
        verdict = client_verdict::replaced;
      }
      plan(step_kind::describe_statement);
      if (s != nullptr) plan_.back().server_name = s->server_name;
      break;
    }
    case 'E':
      plan(step_kind::execute);
      plan_.back().undos = std::move(execute_undos_);
      execute_undos_.clear();
      break;
    case 'C': {
      protocol::target_name t;
      if (protocol::decode_close(body, t) || t.kind == 'P') {
        plan(step_kind::close);
        break;
      }
      if (t.name.empty()) {
        // Whatever unnamed statement the server holds goes; the client's is gone.
        client_.unnamed() = {};
        server_.set_unnamed(server_statements::no_unnamed);
        plan(step_kind::close);
        plan_.back().unnamed = true;
        break;
      }
      // Only the mapping goes: the server's statement may serve other clients. Closing a name that
      // does not exist is no error in PostgreSQL either.
      std::vector<undo> undos;
      if (auto taken = client_.take(t.name)) {
        undo u(undo::restore_client, std::string(t.name));
        u.statement = std::move(taken);
        undos.push_back(std::move(u));
      }
      std::string reply;
      protocol::encode_close_complete(reply);
      synthesise(std::move(reply), std::move(undos));
      verdict = client_verdict::replaced;
      break;
    }
    case 'S':
      // A bound deallocation no Execute ran: nothing was dropped.
      if (!execute_undos_.empty()) apply(execute_undos_);
      server_skipping_ = false;
      if (!copy_in_) plan(step_kind::sync);  // in copy-in the server ignores it
      break;
    case 'Q':
      verdict = on_query(body, to_server);
      break;
    case 'F':
      plan(step_kind::query);  // FunctionCall: replies up to ReadyForQuery, like a Query
      break;
    case 'c':
    case 'f':
      if (copy_in_) end_copy_in();
      break;
    default:
      break;  // CopyData, Flush, Terminate, ...: no reply of their own
  }
  drain(to_client);
  return verdict;
}

// Pops the front step after its last reply; returns whether that reply goes to the client.
bool statement_rewriter::finish_front(std::string& to_client_after) {
  step& s = plan_.front();
  const bool forward = s.forward;
  if (s.kind == step_kind::query && !s.saw_error && !s.ghosts.empty()) server_.forget_unknown(s.ghosts);
  if (s.kind == step_kind::execute && !s.bytes.empty()) {
    // The stand-in for a duplicate Parse somehow ran: still report what PostgreSQL would have.
    to_client_after += s.bytes;
    plan_.pop_front();
    drain(to_client_after);
    return false;
  }
  plan_.pop_front();
  drain(to_client_after);
  return forward;
}

bool statement_rewriter::on_server_message(std::uint8_t tag, protocol::byte_span body, std::string& to_client_after) {
  if (is_async(tag)) return true;
  if (plan_.empty()) {
    uncertain_ = true;  // nothing asked for it; the client may know what it is
    return true;
  }
  step& s = plan_.front();
  if (tag == 'E') {
    copy_in_ = false;
    if (s.kind == step_kind::query || s.kind == step_kind::sync) {
      // Part of a simple Query's reply, or a failed COMMIT at Sync: ReadyForQuery still follows.
      s.saw_error = true;
      apply(s.undos);
      return true;
    }
    bool forward = true;
    if (!s.server_name.empty()) {
      protocol::error_fields f;
      if (!protocol::decode_error_response(body, f) && is_stale_plan(f)) {
        // The table under the statement changed shape: PostgreSQL fails this statement until it is
        // prepared again. The client sees this error once; the next use re-prepares it (Close, Parse).
        server_.mark_unknown(s.server_name);
      } else if (f.code == "26000") {
        // Our statement is gone: SQL we could not recognise (a function running DEALLOCATE ALL)
        // dropped it, and likely the others. The client sees this once; next uses re-prepare.
        server_.all_to_unknown();
      }
    }
    if (s.kind == step_kind::execute && !s.bytes.empty()) {
      protocol::error_fields f;
      if (!protocol::decode_error_response(body, f) && f.code == "34000") {
        to_client_after += s.bytes;  // the duplicate Parse's 42P05 in place of the stand-in's error
        forward = false;
      }
    }
    // An injected message's error is forwarded too: it is the error of the client's own request
    // that needed it (its Bind/Describe is skipped by the server, and dropped here).
    drop_until_sync();
    drain(to_client_after);
    return forward;
  }
  if (tag == 'Z') {
    if (s.kind == step_kind::sync || s.kind == step_kind::query) return finish_front(to_client_after);
    uncertain_ = true;
    return true;
  }
  switch (s.kind) {
    case step_kind::parse:
      if (tag == '1') return finish_front(to_client_after);
      break;
    case step_kind::bind:
      if (tag == '2') return finish_front(to_client_after);
      break;
    case step_kind::close:
      if (tag == '3') return finish_front(to_client_after);
      break;
    case step_kind::describe_statement:
      if (tag == 't') return s.forward;
      if (tag == 'T' || tag == 'n') return finish_front(to_client_after);
      break;
    case step_kind::describe_portal:
      if (tag == 'T' || tag == 'n') return finish_front(to_client_after);
      break;
    case step_kind::execute:
      if (tag == 'C' || tag == 'I' || tag == 's') {
        copy_in_ = false;
        return finish_front(to_client_after);
      }
      if (tag == 'D' || tag == 'H' || tag == 'd' || tag == 'c') return s.forward;
      if (tag == 'G') {
        copy_in_ = true;
        return s.forward;
      }
      break;
    case step_kind::query:
      if (tag == 'C' && s.swallow_first_command_complete) {
        s.swallow_first_command_complete = false;
        return false;
      }
      if (tag == 'G') copy_in_ = true;
      if (tag == 'C') copy_in_ = false;
      if (tag == 'W') uncertain_ = true;
      return true;  // everything up to ReadyForQuery
    case step_kind::sync:
    case step_kind::synthetic:
      break;
  }
  uncertain_ = true;  // a reply the front step cannot produce (copy-both included)
  return true;
}

}  // namespace pgfunnel::session
