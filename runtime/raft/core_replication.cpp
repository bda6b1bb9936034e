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

propose_result core::propose_conf_change(membership next, std::string* why) {
  if (role_ != role::leader) return {propose_error::not_leader, 0, 0};
  if (transfer_target_ != no_node) return {propose_error::transfer_in_progress, 0, 0};
  // One change at a time, and not before this term committed an entry: a new
  // leader may still hold an uncommitted change of an earlier term, and two
  // changes from different terms could otherwise form disjoint majorities.
  if (conf_change_pending() || log_.term_at(log_.committed()) != term_) return {propose_error::conf_change_pending, 0, 0};
  if (auto err = single_change_error(conf_, next); !err.empty()) {
    if (why) *why = std::move(err);
    return {propose_error::conf_change_invalid, 0, 0};
  }
  const index_t idx = log_.last_index() + 1;
  entry e{term_, idx, entry_type::config, encode(next)};
  log_.append_local(e);
  note_conf_entries({e});
  append_pending_ = true;
  if (maybe_commit()) append_pending_ = true;  // removing a voter may lower the quorum
  return {propose_error::none, idx, term_};
}

// ---- configuration ---------------------------------------------------------

void core::note_conf_entries(const std::vector<entry>& ents) {
  for (const auto& e : ents) {
    if (e.type != entry_type::config || log_.term_at(e.index) != e.term) continue;
    // The transport validated the encoding; an entry that still does not
    // decode (a local bug) keeps the previous configuration.
    if (auto conf = decode_membership(e.data)) conf_log_[e.index] = {e.term, std::move(*conf)};
  }
  refresh_conf();
}

void core::forget_overwritten_confs() {
  for (auto it = conf_log_.begin(); it != conf_log_.end();) {
    if (log_.term_at(it->first) != it->second.first) {
      it = conf_log_.erase(it);
    } else {
      ++it;
    }
  }
}

membership core::conf_at(index_t i) const {
  auto it = conf_log_.upper_bound(i);
  return it == conf_log_.begin() ? base_conf_ : std::prev(it)->second.second;
}

void core::refresh_conf() {
  conf_index_ = conf_log_.empty() ? log_.snapshot_metadata().index : conf_log_.rbegin()->first;
  const membership& next = conf_log_.empty() ? base_conf_ : conf_log_.rbegin()->second.second;
  if (next == conf_) return;
  conf_ = next;
  if (role_ != role::leader) return;
  // A member removed by this change keeps its progress until the change
  // commits (prune_progress): it still receives the entry that removes it,
  // and so learns that it is out.
  for (const auto& m : conf_.members())
    progress_.try_emplace(m.id, log_.last_index() + 1, cfg_.max_inflight_appends);
  if (transfer_target_ != no_node && !conf_.is_voter(transfer_target_)) abort_transfer();
}

void core::prune_progress() {
  if (role_ != role::leader || conf_change_pending()) return;
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (it->first != cfg_.id && !conf_.contains(it->first)) {
      // A last append (best effort): the entries through the one removing
      // it and the commit index, so the server learns it is out.
      send_append(it->first, true);
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
}

void core::maybe_promote_learner() {
  if (!cfg_.auto_promote || role_ != role::leader) return;
  if (conf_change_pending() || log_.term_at(log_.committed()) != term_ || transfer_target_ != no_node) return;
  for (node_id id : conf_.learners()) {
    const auto it = progress_.find(id);
    if (it == progress_.end() || !it->second.recent_active()) continue;
    if (it->second.match() + cfg_.promote_lag < log_.last_index()) continue;
    membership next = conf_;
    member m = *conf_.find(id);
    m.voter = true;
    next.put(std::move(m));
    propose_conf_change(std::move(next));
    return;
  }
}

bool core::maybe_step_down_removed() {
  // Thesis 4.2.2: a leader that is not a voter of the committed configuration
  // steps down; it led until then without counting itself. Followers first
  // learn that the change committed.
  if (role_ != role::leader || conf_.is_voter(cfg_.id) || conf_change_pending()) return false;
  bcast_append();
  become_follower(term_, no_node);
  return true;
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
  m.snapshot.conf = s.meta.conf;
  m.snapshot.offset = off;
  m.snapshot.data = std::string(s.data.view().substr(off, cfg_.snapshot_chunk_bytes));
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
  for (node_id v : conf_.voters()) {
    auto it = progress_.find(v);
    matches.push_back(it == progress_.end() ? 0 : it->second.match());
  }
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
  if (maybe_commit()) {
    bcast_append();  // followers learn the new commit index
    if (maybe_step_down_removed()) return;  // pr is gone with the progress map
  }
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
      if (r.context == m.context && conf_.is_voter(m.from)) r.acks.insert(m.from);
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
    forget_overwritten_confs();
    note_conf_entries(m.entries);
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
    incoming_ = incoming_snapshot{c.index, c.term, c.conf, {}};
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
  snapshot s{snapshot_meta{c.index, c.term, incoming_->conf}, std::move(incoming_->data)};
  incoming_.reset();
  if (log_.match_term(s.meta.index, s.meta.term)) {
    // We already hold the covered entries: just learn that they are committed.
    log_.commit_to(s.meta.index);
  } else {
    log_.restore(s.meta);
    conf_log_.clear();
    if (!s.meta.conf.empty()) base_conf_ = s.meta.conf;
    s.meta.conf = base_conf_;
    refresh_conf();
    stored_snapshot_ = s;
    snapshot_to_hand_ = std::move(s);
  }
  respond_append(c.index);
}

snapshot_meta core::compact(const snapshot& s) {
  if (s.meta.index < log_.snapshot_metadata().index) {
    throw std::invalid_argument("compact: snapshot index " + std::to_string(s.meta.index) +
                                " is older than the current snapshot " +
                                std::to_string(log_.snapshot_metadata().index));
  }
  snapshot_meta meta = s.meta;
  // The configuration as of the snapshot's index is the core's to say: the
  // application never sees configuration entries.
  meta.conf = conf_at(meta.index);
  if (meta.index > log_.snapshot_metadata().index) {
    log_.compact(meta);
    base_conf_ = meta.conf;
    conf_log_.erase(conf_log_.begin(), conf_log_.upper_bound(meta.index));
  }
  stored_snapshot_ = snapshot{meta, s.data};
  return meta;
}

bool core::replace_snapshot_data(index_t index, snapshot_bytes data) {
  if (!stored_snapshot_ || stored_snapshot_->meta.index != index || stored_snapshot_->data.size() != data.size())
    return false;
  stored_snapshot_->data = std::move(data);
  return true;
}

// ---- queries ---------------------------------------------------------------

std::vector<entry> core::entries(index_t lo, index_t hi_exclusive, std::size_t max_bytes) const {
  return log_.slice(lo, hi_exclusive, SIZE_MAX, max_bytes);
}

std::vector<peer_progress> core::progress() const {
  std::vector<peer_progress> out;
  if (role_ != role::leader) return out;
  for (auto& [id, pr] : progress_)
    out.push_back(peer_progress{id, pr.match(), pr.next(), id == cfg_.id || pr.recent_active(), pr.state(),
                                pr.inflight_count(), conf_.is_voter(id)});
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
  if (quorum() == 1 && conf_.is_voter(cfg_.id)) {
    read_states_.push_back(read_state{log_.committed(), std::move(context)});
    return;
  }
  pending_read r{log_.committed(), context, {}};
  if (conf_.is_voter(cfg_.id)) r.acks.insert(cfg_.id);
  reads_.push_back(std::move(r));
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
      if (id != cfg_.id && conf_.is_voter(id) && (target == no_node || pr.match() > best)) {
        target = id;
        best = pr.match();
      }
    }
    if (target == no_node) return false;  // single-node cluster
  }
  if (target == cfg_.id || !progress_.count(target) || !conf_.is_voter(target)) return false;
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
