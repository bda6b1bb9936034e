// Log replication (§5.3), commitment (§5.4.2), snapshots (§7), ReadIndex
// (thesis 6.4), leadership transfer (thesis 3.10) and proposals.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "runtime/raft/core.hpp"

namespace troupe::raft {

// ---- proposals -------------------------------------------------------------

propose_result core::propose(std::string data) {
  if (role_ != role::leader) return {propose_error::not_leader, 0, 0};
  if (transfer_target_ != no_node) return {propose_error::transfer_in_progress, 0, 0};
  index_t idx = log_.last_index() + 1;
  log_.append_local(entry{term_, idx, entry_type::normal, std::move(data)});
  // Sent at take_ready(): every proposal made before then rides in one append.
  append_pending_ = true;
  return {propose_error::none, idx, term_};
}

// ---- leader ----------------------------------------------------------------

void core::send_append(node_id to, bool allow_empty) {
  auto& pr = progress_[to];
  if (pr.paused()) return;
  const index_t prev = pr.next() - 1;
  auto prev_term = log_.term_at(prev);
  if (!prev_term || pr.next() < log_.first_index()) {
    // The entries this follower needs were compacted away (§7).
    if (!stored_snapshot_) return;  // nothing to send until the app calls compact()
    pr.become_snapshot(stored_snapshot_->meta.index);
    send_snapshot_chunk(to, pr);
    return;
  }
  auto ents = log_.slice(pr.next(), log_.last_index() + 1, cfg_.max_entries_per_append, cfg_.max_append_bytes);
  if (ents.empty() && !allow_empty) return;
  message m;
  m.type = msg_type::append;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  if (!ents.empty()) pr.sent_entries(ents.back().index);
  m.entries = std::move(ents);
  send(std::move(m));
}

void core::send_snapshot_chunk(node_id to, follower_progress& pr) {
  if (!stored_snapshot_) return;
  const snapshot& s = *stored_snapshot_;
  if (pr.pending_snapshot() != s.meta.index) pr.become_snapshot(s.meta.index);  // compacted again meanwhile
  const std::uint64_t off = std::min<std::uint64_t>(pr.snapshot_offset(), s.data.size());
  message m;
  m.type = msg_type::snapshot;
  m.to = to;
  m.snapshot.index = s.meta.index;
  m.snapshot.term = s.meta.term;
  m.snapshot.voters = s.meta.voters.empty() ? voters_ : s.meta.voters;
  m.snapshot.offset = off;
  m.snapshot.data = s.data.substr(off, cfg_.snapshot_chunk_bytes);
  m.snapshot.total_size = s.data.size();
  m.snapshot.done = off + m.snapshot.data.size() >= s.data.size();
  send(std::move(m));
}

void core::bcast_append() {
  for (auto& [id, pr] : progress_) {
    if (id != cfg_.id) send_append(id, true);
  }
}

void core::bcast_heartbeat(const std::string& context) {
  for (auto& [id, pr] : progress_) {
    if (id == cfg_.id) continue;
    message m;
    m.type = msg_type::heartbeat;
    m.to = id;
    // Never tell a follower to commit past what it is known to hold.
    m.commit = std::min(pr.match(), log_.committed());
    m.context = context;
    send(std::move(m));
  }
}

bool core::maybe_commit() {
  std::vector<index_t> matches;
  for (node_id v : voters_) matches.push_back(progress_[v].match());
  std::sort(matches.begin(), matches.end(), std::greater<>());
  const index_t candidate = matches[quorum() - 1];
  if (candidate <= log_.committed()) return false;
#ifndef TROUPE_RAFT_PLANTED_BUG
  // §5.4.2: only entries of the current term commit by counting replicas.
  if (log_.term_at(candidate) != term_) return false;
#endif
  const bool first_in_term = log_.term_at(log_.committed()) != term_;
  log_.commit_to(candidate);
  if (first_in_term) on_commit_in_term();
  return true;
}

void core::step_leader(const message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  follower_progress& pr = it->second;
  switch (m.type) {
    case msg_type::append_response: handle_append_response(m, pr); return;
    case msg_type::heartbeat_response: handle_heartbeat_response(m, pr); return;
    case msg_type::snapshot_response: handle_snapshot_response(m, pr); return;
    default: return;  // Election Safety: no other leader exists in our term
  }
}

void core::handle_append_response(const message& m, follower_progress& pr) {
  pr.set_recent_active(true);
  if (m.reject) {
    // Fast backtracking (§5.3 "the leader can decrement nextIndex to bypass
    // all of the conflicting entries in that term").
    index_t hint = m.reject_hint;
    if (m.log_term > 0) hint = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    if (pr.maybe_decrease(m.index, hint)) {
      if (pr.state() == replication_state::replicate) pr.become_probe();
      send_append(m.from, true);
    }
    return;
  }
  const bool was_paused = pr.paused();
  if (!pr.maybe_update(m.index)) {
    if (was_paused && !pr.paused()) send_append(m.from, false);
    return;
  }
  if (pr.state() == replication_state::probe) {
    pr.become_replicate();
  } else if (pr.state() == replication_state::snapshot && pr.match() >= pr.pending_snapshot()) {
    pr.become_probe();
    pr.become_replicate();
  }
  if (maybe_commit()) bcast_append();  // followers learn the new commit index
  // Pipelining: keep the follower's window full.
  while (!pr.paused() && pr.next() <= log_.last_index() && pr.state() == replication_state::replicate) {
    const index_t before = pr.next();
    send_append(m.from, false);
    if (pr.next() == before) break;
  }
  if (m.from == transfer_target_ && pr.match() == log_.last_index()) {
    message t;
    t.type = msg_type::timeout_now;
    t.to = m.from;
    send(std::move(t));
  }
}

void core::handle_heartbeat_response(const message& m, follower_progress& pr) {
  pr.set_recent_active(true);
  pr.resume();
  if (pr.state() == replication_state::replicate && pr.paused()) pr.free_first_inflight();
  if (pr.state() == replication_state::snapshot) {
    send_snapshot_chunk(m.from, pr);  // retransmit: the last chunk or its ack may be lost
  } else if (pr.match() < log_.last_index()) {
    send_append(m.from, true);
  }
  if (!m.context.empty() && !reads_.empty()) {
    for (auto& r : reads_) {
      if (r.context == m.context) r.acks.insert(m.from);
    }
    release_confirmed_reads(m.context);
  }
}

void core::handle_snapshot_response(const message& m, follower_progress& pr) {
  pr.set_recent_active(true);
  if (pr.state() != replication_state::snapshot || m.snapshot.index != pr.pending_snapshot()) return;
  if (!m.reject && m.snapshot.offset <= pr.snapshot_offset()) return;  // duplicate ack
  pr.set_snapshot_offset(m.snapshot.offset);
  send_snapshot_chunk(m.from, pr);
}

// ---- follower --------------------------------------------------------------

void core::handle_append(const message& m) {
  message r;
  r.type = msg_type::append_response;
  r.to = m.from;
  if (m.index < log_.committed()) {
    // Everything through our commit index already matches the leader.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  if (log_.match_term(m.index, m.log_term)) {
    const index_t last_new = log_.append_matching(m.index, m.entries);
    log_.commit_to(std::min(m.commit, last_new));
    r.index = last_new;
    send(std::move(r));
    return;
  }
  // Consistency check failed: tell the leader where our log could match.
  r.reject = true;
  r.index = m.index;
  const index_t hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
  r.reject_hint = hint;
  r.log_term = log_.term_at(hint).value_or(0);
  send(std::move(r));
}

void core::handle_heartbeat(const message& m) {
  log_.commit_to(std::min(m.commit, log_.last_index()));
  message r;
  r.type = msg_type::heartbeat_response;
  r.to = m.from;
  r.context = m.context;
  send(std::move(r));
}

void core::handle_snapshot_chunk(const message& m) {
  const snapshot_chunk& c = m.snapshot;
  auto respond_append = [&](index_t idx) {
    message r;
    r.type = msg_type::append_response;
    r.to = m.from;
    r.index = idx;
    send(std::move(r));
  };
  auto respond_chunk = [&](std::uint64_t next_offset, bool reject) {
    message r;
    r.type = msg_type::snapshot_response;
    r.to = m.from;
    r.reject = reject;
    r.snapshot.index = c.index;
    r.snapshot.term = c.term;
    r.snapshot.offset = next_offset;
    send(std::move(r));
  };
  if (c.index <= log_.committed()) {
    incoming_.reset();
    respond_append(log_.committed());
    return;
  }
  if (c.offset == 0) {
    incoming_ = incoming_snapshot{c.index, c.term, c.voters, {}};
  } else if (!incoming_ || incoming_->index != c.index || incoming_->term != c.term) {
    respond_chunk(0, true);  // we lost the beginning (restart, or a newer snapshot)
    return;
  } else if (incoming_->data.size() != c.offset) {
    // Duplicate or out-of-order chunk: say where we are.
    respond_chunk(incoming_->data.size(), c.offset > incoming_->data.size());
    return;
  }
  incoming_->data += c.data;
  if (!c.done) {
    respond_chunk(incoming_->data.size(), false);
    return;
  }
  if (incoming_->data.size() != c.total_size) {
    incoming_.reset();
    respond_chunk(0, true);
    return;
  }
  snapshot s{snapshot_meta{c.index, c.term, incoming_->voters}, std::move(incoming_->data)};
  incoming_.reset();
  if (log_.match_term(s.meta.index, s.meta.term)) {
    // We already hold the covered entries: just learn that they are committed.
    log_.commit_to(s.meta.index);
  } else {
    log_.restore(s.meta);
    if (!s.meta.voters.empty()) voters_ = s.meta.voters;
    stored_snapshot_ = s;
    snapshot_to_hand_ = std::move(s);
  }
  respond_append(c.index);
}

void core::compact(const snapshot& s) {
  if (s.meta.index < log_.snapshot_metadata().index) {
    throw std::invalid_argument("compact: snapshot index " + std::to_string(s.meta.index) +
                                " is older than the current snapshot " +
                                std::to_string(log_.snapshot_metadata().index));
  }
  snapshot_meta meta = s.meta;
  if (meta.voters.empty()) meta.voters = voters_;
  if (meta.index > log_.snapshot_metadata().index) log_.compact(meta);
  stored_snapshot_ = snapshot{meta, s.data};
}

// ---- queries ---------------------------------------------------------------

std::vector<entry> core::entries(index_t lo, index_t hi_exclusive, std::size_t max_bytes) const {
  return log_.slice(lo, hi_exclusive, SIZE_MAX, max_bytes);
}

std::vector<peer_progress> core::progress() const {
  std::vector<peer_progress> out;
  if (role_ != role::leader) return out;
  for (auto& [id, pr] : progress_) out.push_back(peer_progress{id, pr.match(), pr.next(), id == cfg_.id || pr.recent_active(), pr.state(),
                                                 pr.inflight_count()});
  return out;
}

// ---- ReadIndex -------------------------------------------------------------

void core::read_index(std::string context) {
  if (role_ != role::leader) return;
  if (log_.term_at(log_.committed()) != term_) {
    // Until our noop commits we do not know the latest commit index.
    reads_before_commit_.push_back(std::move(context));
    return;
  }
  if (quorum() == 1) {
    read_states_.push_back(read_state{log_.committed(), std::move(context)});
    return;
  }
  reads_.push_back(pending_read{log_.committed(), context, {cfg_.id}});
  bcast_heartbeat(context);
}

void core::on_commit_in_term() {
  auto waiting = std::move(reads_before_commit_);
  reads_before_commit_.clear();
  for (auto& ctx : waiting) read_index(std::move(ctx));
}

void core::release_confirmed_reads(const std::string& context) {
  auto it = std::find_if(reads_.begin(), reads_.end(), [&](const pending_read& r) { return r.context == context; });
  if (it == reads_.end() || it->acks.size() < quorum()) return;
  // A quorum confirmed leadership after this request, hence after all earlier ones too.
  for (auto n = std::distance(reads_.begin(), it) + 1; n > 0; --n) {
    read_states_.push_back(read_state{reads_.front().index, std::move(reads_.front().context)});
    reads_.pop_front();
  }
}

// ---- leadership transfer ---------------------------------------------------

bool core::transfer_leadership(node_id target) {
  if (role_ != role::leader) return false;
  if (target == no_node) {
    index_t best = 0;
    for (auto& [id, pr] : progress_) {
      if (id != cfg_.id && (target == no_node || pr.match() > best)) {
        target = id;
        best = pr.match();
      }
    }
    if (target == no_node) return false;  // single-node cluster
  }
  if (target == cfg_.id || !progress_.count(target)) return false;
  if (transfer_target_ == target) return true;
  transfer_target_ = target;
  election_elapsed_ = 0;  // the transfer gets one election timeout
  auto& pr = progress_[target];
  if (pr.match() == log_.last_index()) {
    message t;
    t.type = msg_type::timeout_now;
    t.to = target;
    send(std::move(t));
  } else {
    send_append(target, true);
  }
  return true;
}

void core::abort_transfer() { transfer_target_ = no_node; }

}  // namespace troupe::raft
