#include "actors/raft_node.hpp"

#include <algorithm>
#include <chrono>

#include <caf/stateful_actor.hpp>

#include "actors/raft_membership.hpp"
#include "actors/snapshot_schedule.hpp"
#include "config/limits.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/wall_clock.hpp"
#include "runtime/jobs/uuid.hpp"

namespace troupe {
namespace {

using self_ptr = raft_node_actor::stateful_pointer<raft_node_state>;
using clock = raft_node_state::clock;

void drive(self_ptr self);

// The table's reason for refusing a committed command, as the error its
// proposer answers with; the table's message is kept.
caf::error refusal_error(jobs::refusal r, std::string message) {
  switch (r) {
    case jobs::refusal::not_found: return make_error(errc::not_found, std::move(message));
    case jobs::refusal::over_capacity: return make_error(errc::resource_exhausted, std::move(message));
    case jobs::refusal::malformed: return make_error(errc::invalid_argument, std::move(message));
    case jobs::refusal::conflict:
    case jobs::refusal::stale:
    case jobs::refusal::none: break;
  }
  return make_error(errc::failed_precondition, std::move(message));
}

caf::error replaced_error() {
  return make_error(errc::unavailable, "the entry was replaced by another leader's before it committed; retry");
}

// The commit index restored from disk may be stale (only term and vote are
// fsynced), so this node counts as caught up only once it has applied a
// commit index that covers an entry of the current leader's term: everything
// committed before that leader took over precedes its first entry.
void check_caught_up(self_ptr self) {
  auto& st = self->state;
  if (st.caught_up) return;
  if (st.catch_up_target == 0 && st.core->leader() != raft::no_node) {
    auto commit = st.core->commit_index();
    if (commit > 0 && st.core->term_at(commit) == st.core->term()) st.catch_up_target = commit;
  }
  if (st.catch_up_target == 0 || st.applied_done < st.catch_up_target) return;
  st.caught_up = true;
  TLOG(info, "raft_node") << "caught up: applied through index " << st.applied_done
                          << ", the leader's commit index when this node learned it";
}

caf::error not_leader_here(self_ptr self) {
  auto& st = self->state;
  return not_leader(st.cfg, st.core->leader(), st.core->conf());
}

// Says in the log what a configuration change means for this node; a
// removed node stays up (an operator stops it) but no longer votes or campaigns.
void log_conf_change(self_ptr self, const role_change& now) {
  auto& st = self->state;
  const auto* me = now.conf.find(st.cfg.id);
  const auto* before = st.last_role.conf.find(st.cfg.id);
  std::string members;
  for (const auto& m : now.conf.members())
    members += (members.empty() ? "" : ", ") + std::to_string(m.id) + (m.voter ? "" : " (learner)");
  TLOG(info, "raft_node") << "configuration at index " << now.conf_index << (now.conf_committed ? "" : " (uncommitted)")
                          << ": " << members;
  if (!me && now.conf_committed && (before || !st.last_role.conf_committed))
    TLOG(warn, "raft_node") << "this node (" << st.cfg.id << ") was removed from the cluster at index "
                            << now.conf_index << ": it no longer votes, campaigns or runs jobs; stop it";
  else if (me && !me->voter && (!before || before->voter))
    TLOG(info, "raft_node") << "this node is a learner: it receives the log and becomes a voter once caught up";
  else if (me && me->voter && before && !before->voter)
    TLOG(info, "raft_node") << "this node was promoted to voter at index " << now.conf_index;
}

void notify_role(self_ptr self) {
  auto& st = self->state;
  check_caught_up(self);
  role_change now{st.core->state(), st.core->term(), st.core->leader(), st.caught_up};
  now.conf_index = st.core->conf_index();
  now.conf_committed = !st.core->conf_change_pending();
  const bool conf_moved = now.conf_index != st.last_role.conf_index || now.conf_committed != st.last_role.conf_committed;
  now.conf = conf_moved ? with_addresses(st.core->conf(), st.cfg) : st.last_role.conf;
  if (conf_moved) log_conf_change(self, now);
  if (!conf_moved && now.role == st.last_role.role && now.term == st.last_role.term &&
      now.leader_id == st.last_role.leader_id && now.caught_up == st.last_role.caught_up)
    return;
  if ((now.role == raft::role::candidate) && st.last_role.role != raft::role::candidate) ++st.elections;
  if (now.role != st.last_role.role || now.leader_id != st.last_role.leader_id)
    TLOG(info, "raft_node") << "role " << raft::to_string(now.role) << ", term " << now.term << ", leader "
                            << now.leader_id;
  st.last_role = now;
  for (auto& l : st.listeners) self->send(l, now);
}

// Proposals whose index is now committed learn their fate: every pending
// index up to the last committed one in this batch, not only those the table
// answered for (it answers for normal entries only, so a proposal whose index
// another leader filled with its no-op would otherwise wait for its deadline).
void resolve(self_ptr self, const std::map<raft::index_t, raft::term_t>& terms, const apply_outcomes& out) {
  auto& st = self->state;
  if (terms.empty()) return;
  std::map<raft::index_t, const apply_outcome*> outcomes;
  for (const auto& o : out.results) outcomes.emplace(o.index, &o);
  const auto last = terms.rbegin()->first;
  for (auto it = st.pending.begin(); it != st.pending.end() && it->first <= last; it = st.pending.erase(it)) {
    auto& p = it->second;
    auto t = terms.find(it->first);
    if (t == terms.end()) {
      // Below this batch and never answered: a snapshot covered the index.
      p.promise.deliver(make_error(errc::unavailable, "the entry's fate is unknown (a snapshot covered it); "
                                                      "check before retrying"));
      continue;
    }
    if (t->second != p.term) {
      p.promise.deliver(replaced_error());
      continue;
    }
    auto o = outcomes.find(it->first);
    if (o != outcomes.end() && (o->second->refused != jobs::refusal::none || !o->second->error.empty()))
      p.promise.deliver(refusal_error(o->second->refused, o->second->error));
    else  // applied (or already in the table's restored snapshot): it is ours, committed
      p.promise.deliver(proposal_result{it->first, p.job_id, p.created_at_ns});
  }
}

using proposal_promise = caf::typed_response_promise<proposal_result>;

// Hands `cmd` to the core (the caller drives): `rp` is answered once the
// entry is committed and applied (resolve), or at once with why not.
void start_proposal(self_ptr self, logpb::Command& cmd, proposal_promise rp) {
  auto& st = self->state;
  std::string job_id;
  std::int64_t created_ns = 0;
  if (cmd.has_submit_job()) {
    // The leader chooses the id, the time and the admission cap; they
    // travel in the entry so every node applies the same values.
    auto* s = cmd.mutable_submit_job();
    if (s->job_id().empty()) s->set_job_id(jobs::make_uuid_v4(st.rng(), st.rng()));
    created_ns = wall_clock_ns();
    s->set_created_at_ns(created_ns);
    s->set_created_at_ms(ns_to_ms(created_ns));
    s->set_max_active(st.cfg.jobs.max_active);
    job_id = s->job_id();
  }
  std::string data = cmd.SerializeAsString();
  // Followers refuse an entry above this (transport/peer_validation):
  // proposing it would stall replication for good, so refuse it here.
  if (data.size() > config::max_entry_bytes(st.cfg)) {
    rp.deliver(make_error(errc::invalid_argument, "command of " + std::to_string(data.size()) +
                                                      " bytes exceeds the entry limit of " +
                                                      std::to_string(config::max_entry_bytes(st.cfg)) + " bytes"));
    return;
  }
  auto r = st.core->propose(std::move(data));
  if (r.error == raft::propose_error::not_leader) {
    rp.deliver(not_leader_here(self));
    return;
  }
  if (r.error == raft::propose_error::transfer_in_progress) {
    rp.deliver(make_error(errc::unavailable, "leadership transfer in progress; retry shortly"));
    return;
  }
  // An index still pending from an older term now holds this entry: the
  // old proposal lost its place, so it learns that before it is replaced.
  if (auto old = st.pending.find(r.index); old != st.pending.end()) {
    old->second.promise.deliver(replaced_error());
    st.pending.erase(old);
  }
  st.pending.emplace(r.index, raft_node_state::pending_proposal{
                                  r.term, st.now() + config::commit_deadline(st.cfg), rp, job_id, created_ns});
  ++st.proposals;
}

// A job status report waits up to config::status_hold for another proposal
// and then goes into the log with it, in the same commit round. Alone it
// would start a round of its own on every node, and at low load the next
// SubmitJob would wait behind that round (issue 12: at 1 job in flight each
// job cost two rounds, its submit's and its result's). At high load other
// proposals keep coming, so reports wait for next to nothing. While jobs
// wait for a free slot the hold is longer (config::status_hold_busy): in a
// drain no submit comes to share a round with, each round would carry a
// handful of results, and the jobs' ends wait behind the queue anyway.
std::chrono::milliseconds hold_now(const raft_node_state& st) {
  return st.backlog ? config::status_hold_busy(st.cfg) : config::status_hold(st.cfg);
}

// How long a proposal may wait for another to share its round (zero: it
// goes at once). Reports: hold_now. The dispatcher's assignments, for
// status_hold, while jobs wait for a slot and SubmitJobs keep coming: each
// commit of results frees slots, and the assignment that refills them would
// start a round of its own, which the next SubmitJob then waits behind (at 1
// in flight on a saturated host, issue #12). The assigned jobs wait in their
// workers' queues anyway. Not in a drain, where no SubmitJob would come and
// the refill would wait out the hold; not with no backlog, where the
// assignment is a job's start.
std::chrono::milliseconds hold_for(const raft_node_state& st, const logpb::Command& cmd) {
  if (cmd.has_batch_update_job_status()) return hold_now(st);
  const auto hold = config::status_hold(st.cfg);
  if ((cmd.has_assign_jobs() || cmd.has_assign_job()) && st.backlog && st.now() - st.last_submit < hold) return hold;
  return std::chrono::milliseconds(0);
}

// The held proposals go at the latest `wait` from now.
void release_within(self_ptr self, std::chrono::milliseconds wait) {
  auto& st = self->state;
  const auto until = st.now() + wait;
  if (!st.held.empty() && st.held_until <= until) return;
  st.held_until = until;
  self->delayed_send(self, wait, tick_atom::value);
}

void hold(self_ptr self, logpb::Command&& cmd, proposal_promise rp, std::chrono::milliseconds wait) {
  release_within(self, wait);
  self->state.held.push_back({std::move(cmd), std::move(rp)});
}

// Proposes the held proposals, in the order they came (the caller drives).
void release_held(self_ptr self) {
  auto& st = self->state;
  if (st.held.empty()) return;
  auto held = std::move(st.held);
  st.held.clear();
  for (auto& h : held) {
    if (st.core->state() != raft::role::leader)
      h.promise.deliver(not_leader_here(self));
    else
      start_proposal(self, h.cmd, h.promise);
  }
}

void check_reads(self_ptr self) {
  auto& st = self->state;
  for (auto it = st.reads.begin(); it != st.reads.end();) {
    if (it->second.index != 0 && st.applied_sent >= it->second.index) {
      it->second.promise.deliver(std::uint64_t{it->second.index});
      it = st.reads.erase(it);
    } else {
      ++it;
    }
  }
}

// A read the core has not confirmed yet is gone from it once this node stops
// leading (even if it is elected again, in a later term): it learns
// not_leader now, which a client follows, rather than deadline_exceeded at
// the commit deadline. A confirmed read stays valid: it waits for its index.
void drop_lost_reads(self_ptr self) {
  auto& st = self->state;
  const bool leads = st.core->state() == raft::role::leader;
  for (auto it = st.reads.begin(); it != st.reads.end();) {
    if (it->second.index == 0 && (!leads || it->second.term != st.core->term())) {
      it->second.promise.deliver(not_leader_here(self));
      it = st.reads.erase(it);
    } else {
      ++it;
    }
  }
}

void check_transfers(self_ptr self) {
  auto& st = self->state;
  auto leader = st.core->leader();
  for (auto it = st.transfers.begin(); it != st.transfers.end();) {
    bool moved = leader != raft::no_node && leader != st.cfg.id &&
                 (it->target == 0 || it->target == leader);
    if (moved) {
      it->promise.deliver(std::uint64_t{leader});
      it = st.transfers.erase(it);
    } else {
      ++it;
    }
  }
}

// Configuration entries are not applied by the table: a change is done once
// its entry commits in the term it was proposed in.
void check_member_changes(self_ptr self) {
  auto& st = self->state;
  while (!st.member_changes.empty() && st.member_changes.begin()->first <= st.core->commit_index()) {
    auto& [index, w] = *st.member_changes.begin();
    if (st.core->term_at(index) == w.term || index <= st.core->snapshot_metadata().index) {
      // The configuration this entry made (a later promotion may follow).
      w.promise.deliver(member_result{with_addresses(st.core->conf_at(index), st.cfg), index});
    } else {
      w.promise.deliver(replaced_error());
    }
    st.member_changes.erase(st.member_changes.begin());
  }
}

void expire(self_ptr self) {
  auto& st = self->state;
  auto now = st.now();
  for (auto it = st.member_changes.begin(); it != st.member_changes.end();) {
    if (now >= it->second.deadline) {
      it->second.promise.deliver(make_error(errc::deadline_exceeded, "the membership change was not committed within " +
                                                                         std::to_string(config::commit_deadline(st.cfg).count()) +
                                                                         " ms; see `troupe member list`"));
      it = st.member_changes.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = st.pending.begin(); it != st.pending.end();) {
    if (now >= it->second.deadline) {
      it->second.promise.deliver(make_error(
          errc::deadline_exceeded, "not committed within " + std::to_string(config::commit_deadline(st.cfg).count()) +
                                       " ms; the cluster may be degraded, retry"));
      it = st.pending.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = st.transfers.begin(); it != st.transfers.end();) {
    if (now >= it->deadline) {
      st.core->abort_transfer();
      it->promise.deliver(make_error(errc::deadline_exceeded,
                                     "leadership transfer did not complete in time; this node still leads"));
      it = st.transfers.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = st.reads.begin(); it != st.reads.end();) {
    if (now >= it->second.deadline) {
      it->second.promise.deliver(make_error(
          errc::deadline_exceeded,
          it->second.index == 0 ? std::string("could not confirm leadership for a linearizable read")
                                : "entries up to the read index " + std::to_string(it->second.index) +
                                      " were not applied in time for a linearizable read; retry"));
      it = st.reads.erase(it);
    } else {
      ++it;
    }
  }
}

// A change whose new configuration has no reachable majority of voters is
// refused (etcd's strict reconfiguration check): it could not commit until
// they return, and meanwhile this leader, counting the new configuration
// from the moment it appends it, would lose its quorum and step down, an
// outage the operator did not ask for (e.g. `member remove 3` while node 2
// is down in a 3-node cluster). Reachable: a Raft message arrived from it
// within an election timeout. Best effort: a node that died a moment ago
// still counts. "" when the change may go ahead.
std::string unreachable_majority(const raft_node_state& st, const raft::membership& next) {
  const auto now = st.now();
  const auto window = config::election_timeout(st.cfg);
  std::size_t reachable = 0;
  std::string silent;
  for (auto id : next.voters()) {
    auto it = st.heard_from.find(id);
    if (id == st.cfg.id || (it != st.heard_from.end() && now - it->second <= window)) {
      ++reachable;
    } else {
      silent += (silent.empty() ? "node " : ", node ") + std::to_string(id);
    }
  }
  const auto voters = next.voter_count();
  if (reachable > voters / 2) return {};
  return "the new configuration's voters would be " + std::to_string(reachable) + " of " + std::to_string(voters) +
         " reachable from the leader (not heard from within " + std::to_string(window.count()) +
         " ms: " + silent + "), not a majority: the change could not commit and the cluster would stop "
         "serving; bring them back first, then retry";
}

// The Raft loop stops for good: every waiter is answered now, not at its
// own deadline. CAF 0.17 sends nothing for a promise that dies with its
// actor, so the requesters (gateways' calls among them) would wait seconds,
// and the gRPC server's shutdown waits for every call's answer, which kept a
// fail-stopped node and its ports for ~6 s before its restart. A proposed
// entry may still commit through the other nodes, so the client is told to
// check, as for other entries of unknown fate. `stopped` says why. Returns
// how many were answered.
std::size_t answer_waiters(self_ptr self, const std::string& stopped) {
  auto& st = self->state;
  const std::size_t n = st.pending.size() + st.held.size() + st.member_changes.size() + st.transfers.size() +
                        st.reads.size();
  for (auto& [index, p] : st.pending)
    p.promise.deliver(make_error(errc::unavailable, stopped + "; the entry's fate is unknown, check before retrying"));
  for (auto& h : st.held) h.promise.deliver(make_error(errc::unavailable, stopped + "; not proposed"));
  for (auto& [index, w] : st.member_changes)
    w.promise.deliver(make_error(errc::unavailable, stopped + "; see `troupe member list` at another node"));
  for (auto& t : st.transfers) t.promise.deliver(make_error(errc::unavailable, stopped));
  for (auto& [ctx, r] : st.reads) r.promise.deliver(make_error(errc::unavailable, stopped + "; ask another node"));
  st.pending.clear();
  st.held.clear();
  st.member_changes.clear();
  st.transfers.clear();
  st.reads.clear();
  return n;
}

// Its storage failed.
void stop_loop(self_ptr self, const caf::error& why) {
  answer_waiters(self, "this node's Raft loop stopped (its storage failed)");
  self->quit(why);
}

// A handler threw: one of the core's checks that only a bug can fail (a
// committed entry to be overwritten: peer validation refuses the batches
// that could ask it), or memory ran out. The node stops (the bootstrap
// watches raft_node), and its waiters learn it at once, as on a storage
// failure.
caf::error on_exception(self_ptr self, std::exception_ptr& eptr) {
  std::string what = "an unknown exception";
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  TLOG(error, "raft_node") << "internal error: " << what << "; stopping the Raft loop";
  answer_waiters(self, "this node's Raft loop stopped (internal error: " + what + ")");
  return make_error(errc::internal, what);
}

// The core sends its snapshot to lagging followers, so it keeps it between
// compactions. One received from the leader it holds on the heap until
// log_store has installed it: then from the file, mapped (~230 MB at a
// million jobs; the heap copy goes once the ready and the table are done
// with it). Its own snapshots it takes mapped from the start (compact_core).
void take_mapped_snapshot(self_ptr self, persist_done& done) {
  if (done.snapshot_file.empty()) return;
  if (!self->state.core->replace_snapshot_data(done.snapshot_index, std::move(done.snapshot_file)))
    TLOG(debug, "raft_node") << "snapshot at index " << done.snapshot_index << " superseded before it was mapped";
}

void ask_table_for_snapshot_piece(self_ptr self, bool first);
void install_snapshot(self_ptr self);

// Ends a compaction that will not compact the core: a snapshot from the
// leader replaced the table or the file meanwhile, or one of the actors
// failed. The table drops what it had begun, if it still has it.
void give_up_snapshot(self_ptr self, const std::string& why) {
  auto& st = self->state;
  TLOG(debug, "raft_node") << "snapshot given up: " << why;
  self->send(st.table, cancel_atom::value, compact_atom::value);
  self->send(st.snapshot_writer, cancel_atom::value);
  st.snapshot.reset();
}

// The file is installed: the core drops the log prefix it covers and keeps
// the data as log_store mapped it, to send to lagging followers.
void compact_core(self_ptr self, persist_done& done) {
  auto& st = self->state;
  auto s = std::move(*st.snapshot);
  st.snapshot.reset();
  if (done.snapshot_index != s.meta.index || done.snapshot_file.empty() ||
      s.meta.index <= st.core->snapshot_metadata().index) {
    TLOG(debug, "raft_node") << "snapshot at index " << s.meta.index << " superseded before it was installed";
    return;
  }
  (void)st.core->compact(raft::snapshot{s.meta, std::move(done.snapshot_file)});  // the meta is the core's already
  st.snapshot_bytes = s.bytes;
  auto ms = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  TLOG(info, "raft_node") << "snapshot at index " << s.meta.index << " (" << s.bytes << " bytes) in "
                          << ms(clock::now() - s.began) << " ms (" << s.pieces << " pieces; table "
                          << ms(s.table) << ", store " << ms(s.store) << "); log compacted";
}

// A piece from the table: to snapshot_writer, then the next piece. The first names
// the index, and the core its term and configuration, which the file holds.
void snapshot_piece_arrived(self_ptr self, snapshot_piece& p, clock::time_point asked) {
  auto& st = self->state;
  if (!st.snapshot) return;
  auto& s = *st.snapshot;
  s.table += clock::now() - asked;
  if (p.meta.index == 0) {
    // The table was restored from the leader's snapshot: nothing of ours to finish.
    self->send(st.snapshot_writer, cancel_atom::value);
    st.snapshot.reset();
    return;
  }
  if (p.first) {
    const raft::index_t index = p.meta.index;
    const auto term = st.core->term_at(index);
    if (!term || index <= st.core->snapshot_metadata().index || index > st.core->applied_index())
      return give_up_snapshot(self, "the core no longer holds index " + std::to_string(index));
    s.meta = raft::snapshot_meta{index, *term, st.core->conf_at(index)};
  }
  p.meta = s.meta;
  s.bytes += p.bytes.size();
  ++s.pieces;
  const bool last = p.last;
  const auto sent = clock::now();
  self->request(st.snapshot_writer, caf::infinite, write_atom::value, std::move(p))
      .then(
          [=](std::uint64_t) {
            auto& st = self->state;
            if (!st.snapshot) return;
            st.snapshot->store += clock::now() - sent;
            if (last)
              install_snapshot(self);
            else
              ask_table_for_snapshot_piece(self, false);
          },
          [=](caf::error& e) { give_up_snapshot(self, "snapshot_writer: " + self->system().render(e)); });
}

// The file is written: log_store installs it, unless a snapshot from the
// leader came meanwhile (then compact_core finds no data and lets it go).
void install_snapshot(self_ptr self) {
  auto& st = self->state;
  const auto sent = clock::now();
  self->request(st.store, caf::infinite, install_atom::value, st.snapshot->meta.index)
      .then(
          [=](persist_done& done) {
            auto& st = self->state;
            if (!st.snapshot) return;
            st.snapshot->store += clock::now() - sent;
            compact_core(self, done);
          },
          [=](caf::error& e) { give_up_snapshot(self, "log_store: " + self->system().render(e)); });
}

void ask_table_for_snapshot_piece(self_ptr self, bool first) {
  auto& st = self->state;
  const auto asked = clock::now();
  auto arrived = [=](snapshot_piece& p) { snapshot_piece_arrived(self, p, asked); };
  auto failed = [=](caf::error& e) { give_up_snapshot(self, "job_table: " + self->system().render(e)); };
  if (first)
    self->request(st.table, caf::infinite, compact_atom::value).then(arrived, failed);
  else
    self->request(st.table, caf::infinite, write_atom::value).then(arrived, failed);
}

// A snapshot is taken once this node reaches its next point by count (at
// least `raft.snapshot_every` entries after the last, where
// actors/snapshot_schedule.hpp puts this node's turn so that the nodes do not
// all compact at once), and once the entries applied since add up to its size
// (at most config::max_log_bytes_between_snapshots). Encoding the table holds
// job_table's actor (every apply waits) for a time that grows with the table,
// so with a count alone a large table was encoded about once a second under
// load, and those stalls were the p99 (issue 12). This way snapshot work
// stays proportional to the work applied, as LogCabin's snapshot ratio keeps
// it, and a restart replays at most that much log.
//
// The table encodes it a piece per request, and each piece goes to
// snapshot_writer before the next is asked for: applies go on in between,
// appends on log_store's thread throughout, and no more than a piece is in
// memory (the whole snapshot, ~230 MB at a million jobs, came on top of the
// table at the peak). log_store installs the finished file, and the core
// compacts, from the data as log_store mapped it.
//
// One snapshot is taken regardless of those thresholds: a leader's that does
// not list the leader (send_out says why it must not be sent).
void maybe_snapshot(self_ptr self) {
  auto& st = self->state;
  if (st.snapshot) return;
  const auto& last = st.core->snapshot_metadata();
  const raft::node_id id = st.core->id();
  if (st.core->state() == raft::role::leader && last.index > 0 && !last.conf.contains(id)) {
    if (!st.core->conf_at(st.applied_done).contains(id)) return;  // its own addition is not applied yet
    TLOG(info, "raft_node") << "taking a snapshot now: the last one (index " << last.index
                            << ") is from before this node, the leader, was added, and a follower that installed "
                               "it would refuse this leader";
  } else {
    if (st.cfg.raft.snapshot_every == 0) return;
    const auto place = snapshot_place_of(st.core->conf(), id);
    if (st.applied_sent < next_snapshot_index(last.index, st.cfg.raft.snapshot_every, place)) return;
    if (st.applied_bytes_since_snapshot < std::min(st.snapshot_bytes, config::max_log_bytes_between_snapshots)) return;
  }
  st.applied_bytes_since_snapshot = 0;
  st.snapshot.emplace();
  st.snapshot->began = clock::now();
  ask_table_for_snapshot_piece(self, true);
}

// The core's messages to the transport, but never a chunk of a snapshot
// that does not list this node, the leader sending it. Such a snapshot is
// one this node received from an earlier leader before it was itself added
// (a node replaced under the same id that then won an election). A follower
// listed in it, once installed, would take this leader for a stranger (its
// transport accepts Raft traffic from members of its configuration only) and
// refuse everything it sends, for good: seen in chaos seed 107, a follower
// that never caught up. The core sends the chunk again at the follower's
// next heartbeat response, and by then maybe_snapshot has taken one that
// lists this node (every configuration this leader appends lists it).
void send_out(self_ptr self, std::vector<raft::message> msgs) {
  auto& st = self->state;
  const raft::node_id id = st.core->id();
  const auto held = std::remove_if(msgs.begin(), msgs.end(), [id](const raft::message& m) {
    return m.type == raft::msg_type::snapshot && !m.snapshot.conf.contains(id);
  });
  if (held != msgs.end()) {
    msgs.erase(held, msgs.end());
    maybe_snapshot(self);
  }
  if (!msgs.empty()) self->send(st.transport, send_atom::value, raft_outbox{std::move(msgs)});
}

void after_persist(self_ptr self, std::shared_ptr<raft::ready> rd) {
  auto& st = self->state;
  if (!rd->messages.empty()) send_out(self, rd->messages);
  if (rd->snapshot) {
    st.applied_sent = std::max(st.applied_sent, rd->snapshot->meta.index);
    st.snapshot_bytes = rd->snapshot->data.size();
    st.applied_bytes_since_snapshot = 0;
    auto index = rd->snapshot->meta.index;
    self->request(st.table, caf::infinite, restore_atom::value, snapshot_blob{*rd->snapshot})
        .then([=](std::uint64_t) {
          self->state.applied_done = std::max(self->state.applied_done, index);
          notify_role(self);
        });
  }
  if (!rd->committed.empty()) {
    std::map<raft::index_t, raft::term_t> terms;
    for (const auto& e : rd->committed) {
      terms.emplace(e.index, e.term);
      st.applied_bytes_since_snapshot += e.data.size();
    }
    st.applied_sent = std::max(st.applied_sent, rd->committed.back().index);
    self->request(st.table, caf::infinite, apply_atom::value, entry_batch{rd->committed})
        .then([=](apply_outcomes& out) {
          self->state.applied_done = std::max(self->state.applied_done, terms.rbegin()->first);
          resolve(self, terms, out);
          notify_role(self);  // the table published these changes before answering
          maybe_snapshot(self);
        });
  }
  for (auto& rs : rd->read_states) {
    auto it = st.reads.find(rs.context);
    if (it != st.reads.end()) it->second.index = rs.index;
  }
  st.core->advance(*rd);
  st.ready_in_flight = false;
  check_reads(self);
  check_transfers(self);
  drive(self);  // notifies listeners of a configuration change before its waiter hears
  check_member_changes(self);
}

// Ticks are lazy. Before anything reaches the core it is given the ticks
// that passed since the last one it saw, so it counts exactly as with a timer
// per tick; and a timer is armed only for the tick on which the core has
// something to do (core::ticks_until_due), or the next one while a proposal,
// transfer, read or membership change waits for its deadline (expire). An
// idle follower wakes about once per election timeout, an idle leader once per
// heartbeat, instead of every tick (issue 12: the idle cost is wake-ups).
void catch_up_ticks(self_ptr self) {
  auto& st = self->state;
  const auto period = config::tick(st.cfg);
  const auto now = st.now();
  if (now < st.tick_base + period) return;
  const auto passed = (now - st.tick_base) / period;
  st.tick_base += passed * period;
  // After a long stall (SIGSTOP, a swapped-out process) the same holds after
  // two election timeouts' worth: every counter has run out by then.
  const auto n = std::min<std::int64_t>(passed, 2 * std::int64_t{st.cfg.raft.election_ticks});
  for (std::int64_t i = 0; i < n; ++i) st.core->tick();
  // What the ticks did (a heartbeat, a campaign, a leader stepping down) goes
  // out now, even when the handler that caught up returns early.
  drive(self);
}

void arm_tick(self_ptr self) {
  auto& st = self->state;
  const bool waiting = !st.pending.empty() || !st.transfers.empty() || !st.reads.empty() || !st.member_changes.empty();
  const int due = waiting ? 1 : st.core->ticks_until_due();
  const auto at = st.tick_base + due * config::tick(st.cfg);
  if (st.tick_armed && *st.tick_armed <= at) return;  // an earlier timer comes first and arms again
  st.tick_armed = at;
  self->delayed_send(self, std::max(at - st.now(), raft_node_state::clock::duration::zero()), tick_atom::value);
}

void drive(self_ptr self) {
  auto& st = self->state;
  arm_tick(self);
  notify_role(self);
  drop_lost_reads(self);
  if (st.ready_in_flight || !st.core->has_ready()) return;
  auto rd = std::make_shared<raft::ready>(st.core->take_ready());
  st.ready_in_flight = true;
  if (rd->messages_before_persist && !rd->messages.empty()) {
    // A leader replicates while it writes (the core counts it only once
    // advance() says its disk has the entries): a commit costs one fsync on
    // the critical path, the followers', not two in a row.
    send_out(self, std::move(rd->messages));
    rd->messages.clear();
  }
  // log_store makes only term and vote durable (the commit index is learned
  // again from the leader after a restart): a ready that moved nothing else,
  // the usual one after a commit, skips the round trip to its thread.
  const bool term_or_vote = rd->hard_state && (rd->hard_state->term != st.stored_hs.term ||
                                               rd->hard_state->vote != st.stored_hs.vote);
  if (!term_or_vote && !rd->snapshot && rd->entries.empty()) {
    after_persist(self, rd);
    return;
  }
  if (rd->hard_state) st.stored_hs = *rd->hard_state;
  persist_request req{rd->hard_state, rd->snapshot, rd->entries};
  self->request(st.store, caf::infinite, persist_atom::value, std::move(req))
      .then([=](persist_done& done) {
              take_mapped_snapshot(self, done);
              after_persist(self, rd);
            },
            [=](caf::error& err) {
              // Without durable storage this node must not take part in consensus.
              TLOG(error, "raft_node") << "log_store failed: " << self->system().render(err)
                                       << "; stopping the Raft loop";
              stop_loop(self, err);
            });
}

}  // namespace

caf::error not_leader(const config::node_config& cfg, std::uint64_t leader_id, const raft::membership& conf) {
  return not_leader_error(leader_id, leader_id == raft::no_node ? std::string() : member_address(conf, cfg, leader_id));
}

raft_node_actor::behavior_type raft_node(raft_node_actor::stateful_pointer<raft_node_state> self,
                                         std::shared_ptr<raft_node_init> init) {
  auto& st = self->state;
  st.cfg = init->cfg;
  st.store = init->store;
  st.snapshot_writer = init->snapshot_writer;
  st.table = init->table;
  st.transport = init->transport;
  st.now = init->now;
  st.rng.seed(std::random_device{}());
  raft::config rc;
  rc.id = st.cfg.id;
  rc.join = st.cfg.join;
  if (!rc.join)
    for (const auto& m : st.cfg.members) rc.voters.push_back(m.id);
  rc.election_tick = static_cast<int>(st.cfg.raft.election_ticks);
  rc.heartbeat_tick = static_cast<int>(st.cfg.raft.heartbeat_ticks);
  rc.pre_vote = st.cfg.raft.pre_vote;
  rc.check_quorum = st.cfg.raft.check_quorum;
  rc.max_entries_per_append = st.cfg.raft.max_entries_per_append;
  rc.max_append_bytes = static_cast<std::size_t>(st.cfg.raft.max_append_bytes);
  rc.snapshot_chunk_bytes = st.cfg.raft.snapshot_chunk_bytes;
  st.stored_hs = init->restored.hs;
  st.snapshot_bytes = init->restored.snap_data.size();
  st.applied_sent = init->restored.snap.index;
  st.applied_done = init->restored.snap.index;  // the bootstrap restored the table from it
  // Moved: the init lives as long as the node, and would otherwise keep the
  // restored entries and the first snapshot's bytes (~150 MiB at a million
  // jobs) after the core has replaced them.
  const raft::index_t snapshot_index = init->restored.snap.index;
  st.core = std::make_unique<raft::core>(rc, [self] { return self->state.rng(); }, std::move(init->restored));
  st.last_role = role_change{st.core->state(), st.core->term(), st.core->leader()};
  // The configuration the node starts with (seed, snapshot or log), so that
  // listeners subscribing now hear it: notify_role only reports moves of
  // conf_index, and a first start's seed configuration sits at index 0.
  st.last_role.conf = with_addresses(st.core->conf(), st.cfg);
  st.last_role.conf_index = st.core->conf_index();
  st.last_role.conf_committed = !st.core->conf_change_pending();
  TLOG(info, "raft_node") << "started at term " << st.core->term() << ", log " << st.core->first_index()
                          << ".." << st.core->last_index() << ", snapshot at "
                          << snapshot_index << ", "
                          << (st.core->conf().empty() ? std::string("no configuration yet (joining)")
                                                      : std::to_string(st.core->conf().voter_count()) + " voters");
  st.tick_base = st.now();
  arm_tick(self);
  self->set_exception_handler([=](std::exception_ptr& eptr) { return on_exception(self, eptr); });
  return {
      [=](tick_atom) {
        auto& st = self->state;
        // A timer armed earlier may fire after a later one replaced it as
        // the earliest; only the due one clears the mark.
        if (st.tick_armed && st.now() >= *st.tick_armed) st.tick_armed.reset();
        catch_up_ticks(self);
        // Held reports go when their time is up, or at once on a node that
        // no longer leads (they learn not_leader).
        if (!st.held.empty() && (st.now() >= st.held_until || st.core->state() != raft::role::leader))
          release_held(self);
        expire(self);
        drive(self);
      },
      [=](step_atom, const raft::message& m) {
        catch_up_ticks(self);
        self->state.heard_from[m.from] = self->state.now();
        self->state.core->step(m);
        drive(self);
      },
      [=](propose_atom, logpb::Command& cmd) -> caf::result<proposal_result> {
        auto& st = self->state;
        catch_up_ticks(self);
        if (st.core->state() != raft::role::leader) return not_leader_here(self);
        if (st.stopping) return make_error(errc::unavailable, "node shutting down; retry on another node");
        const auto queued = st.pending.size() + st.held.size();
        if (queued >= st.cfg.raft.max_pending_proposals)
          return make_error(errc::resource_exhausted, "proposal queue is full (" + std::to_string(queued) +
                                                          " pending); retry with exponential backoff");
        auto rp = self->make_response_promise<proposal_result>();
        if (cmd.has_submit_job()) st.last_submit = st.now();
        if (const auto wait = hold_for(st, cmd); wait.count() > 0) {
          hold(self, std::move(cmd), rp, wait);
          return rp;
        }
        release_held(self);
        start_proposal(self, cmd, rp);
        drive(self);
        return rp;
      },
      // A node that stops still leading, or knowing no leader, found no
      // follower to take over: most likely no quorum is left, so what waits
      // for a commit would wait out the commit deadline and hold the
      // gateways' shutdown that long. It learns now, as on a fail-stop
      // (answer_waiters: an appended entry may still commit under a later
      // leader). With another node leading (the one this node handed over
      // to), waiting entries are being committed: they keep waiting.
      [=](shutdown_atom) -> std::size_t {
        auto& st = self->state;
        st.stopping = true;
        const auto leader = st.core->leader();
        if (leader != raft::no_node && leader != st.cfg.id) return 0;
        return answer_waiters(self, "node shutting down");
      },
      [=](status_atom) -> raft_status {
        auto& st = self->state;
        raft_status s;
        s.node_id = st.cfg.id;
        s.role = st.core->state();
        s.term = st.core->term();
        s.leader_id = st.core->leader();
        s.commit_index = st.core->commit_index();
        s.applied_index = st.applied_sent;
        s.first_index = st.core->first_index();
        s.last_index = st.core->last_index();
        s.transfer_target = st.core->transfer_target();
        s.proposals = st.proposals;
        s.elections = st.elections;
        s.pending = st.pending.size() + st.held.size();
        for (const auto& p : st.core->progress())
          s.peers.push_back(peer_status{p.id, p.match, p.next, p.recent_active, p.voter});
        s.conf = st.last_role.conf;
        s.conf_index = st.last_role.conf_index;
        s.conf_committed = st.last_role.conf_committed;
        return s;
      },
      [=](log_atom, std::uint64_t start, std::uint32_t limit) -> log_page {
        auto& st = self->state;
        log_page page;
        page.commit_index = st.core->commit_index();
        page.last_index = st.core->last_index();
        page.first_index = st.core->first_index();
        if (limit == 0) limit = 100;
        if (limit > max_log_page) limit = max_log_page;
        auto lo = std::max<std::uint64_t>(start, page.first_index);
        auto hi = std::min<std::uint64_t>(lo + limit, page.last_index + 1);
        if (lo < hi) page.entries = st.core->entries(lo, hi);
        return page;
      },
      [=](transfer_atom, std::uint64_t target) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        catch_up_ticks(self);
        if (st.core->state() != raft::role::leader) return not_leader_here(self);
        if (target == st.cfg.id) return std::uint64_t{st.cfg.id};  // already leads
        if (target != 0 && !st.core->conf().is_voter(target))
          return make_error(errc::invalid_argument, "node " + std::to_string(target) + " is not a voter");
        if (!st.core->transfer_leadership(target))
          return make_error(errc::failed_precondition,
                            target == 0 ? std::string("no follower can take over leadership")
                                        : "cannot transfer leadership to node " + std::to_string(target));
        auto rp = self->make_response_promise<std::uint64_t>();
        st.transfers.push_back({st.core->transfer_target(), st.now() + config::transfer_window(st.cfg), rp});
        TLOG(info, "raft_node") << "transferring leadership to node " << st.core->transfer_target();
        drive(self);
        return rp;
      },
      [=](read_atom) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        catch_up_ticks(self);
        if (st.core->state() != raft::role::leader) return not_leader_here(self);
        auto ctx = std::to_string(++st.next_read);
        auto rp = self->make_response_promise<std::uint64_t>();
        const auto deadline = st.now() + config::commit_deadline(st.cfg);
        st.reads.emplace(ctx, raft_node_state::read_waiter{0, st.core->term(), deadline, rp});
        st.core->read_index(ctx);
        drive(self);
        return rp;
      },
      [=](member_atom, const member_change& change) -> caf::result<member_result> {
        auto& st = self->state;
        catch_up_ticks(self);
        if (st.core->state() != raft::role::leader) return not_leader_here(self);
        auto next = plan_change(st.last_role.conf, change, st.cfg);
        if (!next) return std::move(next.error());
        if (change.kind == member_change::op::remove && change.id == st.cfg.id) {
          // Removing the leader: hand leadership to the most up-to-date
          // voter first; the redirect then carries the removal to it.
          auto rp = self->make_response_promise<member_result>();
          self->request(caf::actor_cast<raft_node_actor>(self), config::transfer_window(st.cfg) * 2, transfer_atom::value,
                        std::uint64_t{0})
              .then([=](std::uint64_t) mutable { rp.deliver(not_leader_here(self)); },
                    [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
          return rp;
        }
        if (st.core->conf_change_pending())
          return make_error(errc::failed_precondition, "membership change at index " +
                                                           std::to_string(st.core->conf_index()) +
                                                           " is not committed yet; one change at a time");
        if (auto silent = unreachable_majority(st, *next); !silent.empty())
          return make_error(errc::failed_precondition, silent);
        std::string why;
        auto r = st.core->propose_conf_change(std::move(*next), &why);
        switch (r.error) {
          case raft::propose_error::none: break;
          case raft::propose_error::not_leader: return not_leader_here(self);
          case raft::propose_error::transfer_in_progress:
            return make_error(errc::unavailable, "leadership transfer in progress; retry shortly");
          case raft::propose_error::conf_change_pending:
            return make_error(errc::failed_precondition,
                              "the leader has not committed an entry of its term yet, or a membership change is "
                              "pending; retry shortly");
          case raft::propose_error::conf_change_invalid: return make_error(errc::invalid_argument, why);
        }
        if (auto old = st.pending.find(r.index); old != st.pending.end()) {
          old->second.promise.deliver(replaced_error());
          st.pending.erase(old);
        }
        if (auto old = st.member_changes.find(r.index); old != st.member_changes.end()) {
          old->second.promise.deliver(replaced_error());
          st.member_changes.erase(old);
        }
        auto rp = self->make_response_promise<member_result>();
        st.member_changes[r.index] = raft_node_state::member_waiter{r.term, st.now() + config::commit_deadline(st.cfg), rp};
        TLOG(info, "raft_node") << (change.kind == member_change::op::add ? "adding node " : "removing node ")
                                << change.id << " (entry " << r.index << ")";
        drive(self);
        return rp;
      },
      [=](subscribe_atom, role_listener l) {
        self->state.listeners.push_back(l);
        self->send(l, self->state.last_role);
      },
      // When no job waits any more, what is held waits no longer than the
      // short hold from now (not out the rest of a busy one).
      [=](backlog_atom, bool jobs_wait) {
        auto& st = self->state;
        st.backlog = jobs_wait;
        if (!jobs_wait && !st.held.empty()) release_within(self, config::status_hold(st.cfg));
      },
  };
}

}  // namespace troupe
