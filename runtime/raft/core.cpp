// Construction, the Ready/Advance cycle, ticks, message dispatch and
// elections. Replication, snapshots, reads and transfer: core_replication.cpp.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "runtime/raft/core.hpp"

namespace troupe::raft {

core::core(config cfg, std::function<std::uint64_t()> random, restored_state init)
    : cfg_(std::move(cfg)), random_(std::move(random)) {
  if (auto err = validate(cfg_); !err.empty()) throw std::invalid_argument(err);
  if (!random_) throw std::invalid_argument("core: random source must be set");
  // The replicated configuration wins over the seed list once there is one
  // (a snapshot's, or configuration entries in the log; thesis 4.1). A node
  // may restart as a learner or removed: it then simply cannot campaign.
  if (!init.snap.conf.empty()) {
    base_conf_ = init.snap.conf;
  } else if (!cfg_.join) {
    base_conf_ = membership::of_voters(cfg_.voters);
  }
  init.snap.conf = base_conf_;
  if (!init.snap_data.empty()) stored_snapshot_ = snapshot{init.snap, std::move(init.snap_data)};
  // Read the configuration entries from the restored entries themselves,
  // before the log takes them: no copy of every entry at start-up.
  for (const entry& e : init.entries) {
    if (e.type != entry_type::config) continue;
    std::string why;
    auto conf = decode_membership(e.data, &why);
    if (!conf) throw std::invalid_argument("core: configuration entry " + std::to_string(e.index) + ": " + why);
    conf_log_[e.index] = {e.term, std::move(*conf)};
  }
  log_ = raft_log(init.snap, std::move(init.entries), init.hs.commit);
  refresh_conf();
  term_ = std::max(init.hs.term, log_.last_term());
  vote_ = term_ == init.hs.term ? init.hs.vote : no_node;  // a restart keeps its vote (one per term)
  handed_hs_ = init.hs;
  become_follower(term_, no_node);  // same term: reset() keeps the vote
}

// ---- Ready / Advance -------------------------------------------------------

bool core::has_ready() const {
  return append_pending_ || current_hard_state() != handed_hs_ || snapshot_to_hand_ || log_.has_unhanded_entries() ||
         !msgs_.empty() || log_.has_unhanded_committed() || !read_states_.empty();
}

ready core::take_ready() {
  if (append_pending_) {
    append_pending_ = false;
    if (role_ == role::leader) bcast_append();
  }
  ready r;
  bool term_or_vote_changed = false;
  if (auto hs = current_hard_state(); hs != handed_hs_) {
    term_or_vote_changed = hs.term != handed_hs_.term || hs.vote != handed_hs_.vote;
    r.hard_state = hs;
    handed_hs_ = hs;
  }
  // Thesis §10.2.1: a leader may send AppendEntries while it writes the same
  // entries, because advance() counts it in a quorum only for entries on its
  // own disk. Not when term or vote changed in this ready: a message must not
  // reveal a term or vote that a crash could still lose.
  r.messages_before_persist = role_ == role::leader && !term_or_vote_changed;
  if (snapshot_to_hand_) {
    r.snapshot = std::move(*snapshot_to_hand_);
    snapshot_to_hand_.reset();
  }
  r.entries = log_.take_unhanded_entries();
  r.messages = std::move(msgs_);
  msgs_.clear();
  r.committed = log_.take_unhanded_committed();
  r.read_states = std::move(read_states_);
  read_states_.clear();
  return r;
}

void core::advance(const ready& r) {
  if (r.snapshot) log_.snapshot_persisted(r.snapshot->meta.index);
  if (!r.entries.empty()) log_.persisted_to(r.entries.back().index, r.entries.back().term);
  if (!r.committed.empty()) log_.applied_to(r.committed.back().index);
  if (role_ == role::leader) {
    // The leader counts itself only for entries on its own disk, so a single
    // node commits here and a crashed leader cannot have counted lost entries.
    progress_[cfg_.id].maybe_update(log_.persisted());
    if (maybe_commit() && !maybe_step_down_removed()) append_pending_ = true;
    prune_progress();
  }
}

// ---- ticks -----------------------------------------------------------------

void core::tick() {
  if (role_ == role::leader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

int core::ticks_until_due() const {
  if (role_ == role::leader) {
    // Learners to promote, progress of removed servers to prune, a change in
    // flight: checked on every tick.
    // (Counted, not listed: raft_node asks this after every message.)
    if (conf_change_pending() || conf_.voter_count() < conf_.members().size() ||
        progress_.size() > conf_.members().size())
      return 1;
    return std::max(1, std::min(cfg_.heartbeat_tick - heartbeat_elapsed_, cfg_.election_tick - election_elapsed_));
  }
  if (!promotable()) return cfg_.election_tick;  // counts only (a learner, or outside the configuration)
  return std::max(1, randomized_timeout_ - election_elapsed_);
}

void core::tick_election() {
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_timeout_) {
    election_elapsed_ = 0;
    campaign(cfg_.pre_vote, false);
  }
}

void core::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_tick) {
    election_elapsed_ = 0;
    if (cfg_.check_quorum) {
      // §6.2 of the thesis: a leader that has not heard from a majority within
      // an election timeout steps down so clients can find the real leader.
      std::size_t active = 0;
      for (auto& [id, pr] : progress_) {
        if (conf_.is_voter(id) && (id == cfg_.id || pr.recent_active())) ++active;
        if (id != cfg_.id) pr.set_recent_active(false);
      }
      if (active < quorum()) {
        become_follower(term_, no_node);
        return;
      }
    }
    if (transfer_target_ != no_node) abort_transfer();  // thesis 3.10: give up after an election timeout
  }
  prune_progress();
  maybe_promote_learner();
  if (heartbeat_elapsed_ >= cfg_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat(reads_.empty() ? std::string() : reads_.back().context);
  }
}

// ---- role transitions ------------------------------------------------------

void core::reset(term_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = no_node;
  }
  lead_ = no_node;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_timeout();
  votes_.clear();
  progress_.clear();
  transfer_target_ = no_node;
  append_pending_ = false;
  reads_.clear();
  reads_before_commit_.clear();
}

void core::reset_randomized_timeout() {
  randomized_timeout_ =
      cfg_.election_tick + static_cast<int>(random_() % static_cast<std::uint64_t>(cfg_.election_tick));
}

void core::become_follower(term_t term, node_id lead) {
  reset(term);
  role_ = role::follower;
  lead_ = lead;
}

void core::become_pre_candidate() {
  // Pre-vote (thesis 9.6) changes neither term nor vote: a node that cannot
  // win must not disturb the cluster by bumping terms.
  votes_.clear();
  progress_.clear();
  transfer_target_ = no_node;
  role_ = role::pre_candidate;
  lead_ = no_node;
}

void core::become_candidate() {
  reset(term_ + 1);
  vote_ = cfg_.id;
  role_ = role::candidate;
}

void core::become_leader() {
  reset(term_);
  role_ = role::leader;
  lead_ = cfg_.id;
  for (const auto& m : conf_.members())
    progress_.emplace(m.id, follower_progress(log_.last_index() + 1, cfg_.max_inflight_appends));
  auto& self = progress_.try_emplace(cfg_.id, log_.last_index() + 1, cfg_.max_inflight_appends).first->second;
  self.maybe_update(log_.persisted());
  self.become_replicate();
  self.set_recent_active(true);
  // §5.4.2 / thesis 3.6.2: entries of older terms only commit indirectly, so
  // commit an entry of our own term right away.
  log_.append_local(entry{term_, log_.last_index() + 1, entry_type::noop, {}});
  append_pending_ = true;
}

bool core::promotable() const {
  return conf_.is_voter(cfg_.id);
}

void core::campaign(bool pre_vote, bool transfer) {
  // term_ + 1 must stay below max_term: a node stuck at the bound stays a
  // follower (it can still vote and follow) instead of wrapping its term.
  if (term_ + 1 >= max_term) return;
  term_t vote_term;
  msg_type type;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;  // the term we would campaign for
    type = msg_type::pre_vote;
  } else {
    become_candidate();
    vote_term = term_;
    type = msg_type::vote;
  }
  votes_[cfg_.id] = true;
  if (quorum() == 1) {  // single-node cluster
    if (pre_vote) {
      campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (node_id v : conf_.voters()) {
    if (v != cfg_.id) send_vote_request(v, type, vote_term, transfer);
  }
}

void core::send_vote_request(node_id to, msg_type type, term_t vote_term, bool transfer) {
  message m;
  m.type = type;
  m.to = to;
  m.term = vote_term;
  m.index = log_.last_index();
  m.log_term = log_.last_term();
  if (transfer) m.context = transfer_context;
  send(std::move(m));
}

bool core::in_lease() const {
  return cfg_.check_quorum && lead_ != no_node && election_elapsed_ < cfg_.election_tick;
}

// ---- message dispatch ------------------------------------------------------

void core::step(const message& m) {
  if (m.from == cfg_.id || m.from == no_node) return;
  // Defense in depth behind the transport's validation: a term this large is
  // never honest, and adopting it would leave no room to campaign.
  if (m.term >= max_term) return;
  // Messages from servers outside our configuration are processed (thesis
  // 4.1): a server not yet told of a change must still follow a leader added
  // by it. They cannot count: only members' progress and voters' votes do.

  if (m.term > term_) {
    if (m.type == msg_type::vote || m.type == msg_type::pre_vote) {
      // CheckQuorum lease (thesis 4.2.3): a follower that recently heard from
      // a leader ignores campaigns, unless the leader itself asked for one.
      if (m.context != transfer_context && in_lease()) return;
    }
    if (m.type == msg_type::pre_vote) {
      // Never change term for a pre-vote.
    } else if (m.type == msg_type::pre_vote_response && !m.reject) {
      // A granted pre-vote carries the future term; the election will bump it.
    } else if (m.type == msg_type::append || m.type == msg_type::heartbeat || m.type == msg_type::snapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, no_node);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) && (m.type == msg_type::append || m.type == msg_type::heartbeat)) {
      // A stale leader (e.g. after a partition) learns our term and steps down.
      message r;
      r.type = msg_type::append_response;
      r.to = m.from;
      r.term = term_;
      send(std::move(r));
    } else if (m.type == msg_type::pre_vote) {
      message r;
      r.type = msg_type::pre_vote_response;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  switch (m.type) {
    case msg_type::vote:
    case msg_type::pre_vote: handle_vote_request(m); return;
    default: break;
  }

  switch (role_) {
    case role::leader: step_leader(m); return;
    case role::candidate:
    case role::pre_candidate:
      if (m.type == msg_type::append || m.type == msg_type::heartbeat || m.type == msg_type::snapshot) {
        become_follower(term_, m.from);  // someone won this term
        break;
      }
      if ((role_ == role::pre_candidate && m.type == msg_type::pre_vote_response) ||
          (role_ == role::candidate && m.type == msg_type::vote_response)) {
        handle_vote_response(m);
      }
      return;
    case role::follower: break;
  }

  // follower
  switch (m.type) {
    case msg_type::append:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_append(m);
      return;
    case msg_type::heartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      return;
    case msg_type::snapshot:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot_chunk(m);
      return;
    case msg_type::timeout_now:
      // The leader asked us to take over: skip pre-vote and the lease.
      if (promotable()) campaign(false, true);
      return;
    default: return;
  }
}

// Does this pre-candidate win a tie against the sender of pre-vote `m`? Of
// two pre-candidates for the same term whose logs are equal, only the lower
// id gets the other's pre-vote. If each granted the other, both would stand
// as candidates for that term and split its votes, and with one voter of
// three down nobody would win before another randomized timeout: a failover
// then took 1.1 s instead of 0.5 (two followers whose timers fired ~10 ms
// apart, seen in bench/failover.sh). Pre-votes change no term and no vote,
// so refusing one costs liveness at most, never safety.
bool core::wins_pre_vote_tie(const message& m) const {
  return role_ == role::pre_candidate && m.term == term_ + 1 && m.index == log_.last_index() &&
         m.log_term == log_.last_term() && m.from > cfg_.id;
}

void core::handle_vote_request(const message& m) {
  const bool pre = m.type == msg_type::pre_vote;
  // Figure 2 RequestVote rule 2 (one vote per term) plus §5.4.1 up-to-date check.
  const bool can_vote = vote_ == m.from || (vote_ == no_node && lead_ == no_node) || (pre && m.term > term_);
  message r;
  r.type = pre ? msg_type::pre_vote_response : msg_type::vote_response;
  r.to = m.from;
  if (can_vote && log_.is_up_to_date(m.index, m.log_term) && !(pre && wins_pre_vote_tie(m))) {
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;  // persisted via ready.hard_state before this response goes out
    } else if (role_ != role::leader) {
      // Having backed this campaign, give it a fresh randomized timeout
      // before starting our own: otherwise our timer, due a few ms later,
      // would put us up against it as a second candidate for the same term.
      // election_elapsed_ stays: it also times the lease, and the campaign
      // we backed must still get our vote.
      reset_randomized_timeout();
      randomized_timeout_ += election_elapsed_;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
  // The other pre-candidate may have ignored our pre-vote while it still
  // heard from the leader; now that it campaigns too, ask it again, or
  // neither of us would win until another timeout.
  if (pre && r.reject && wins_pre_vote_tie(m)) send_vote_request(m.from, msg_type::pre_vote, term_ + 1, false);
}

void core::handle_vote_response(const message& m) {
  votes_.emplace(m.from, !m.reject);
  std::size_t granted = 0, rejected = 0;
  for (auto& [id, yes] : votes_)
    if (conf_.is_voter(id)) (yes ? granted : rejected)++;
  if (granted >= quorum()) {
    if (role_ == role::pre_candidate) {
      campaign(false, false);
    } else {
      become_leader();
    }
  } else if (rejected >= quorum()) {
    become_follower(term_, no_node);
  }
}

void core::send(message m) {
  m.from = cfg_.id;
  if (m.term == 0) m.term = term_;
  msgs_.push_back(std::move(m));
}

}  // namespace troupe::raft
