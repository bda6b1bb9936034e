#include "service/drain_workflow.hpp"

#include "actors/raft_node.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "runtime/common/log.hpp"
#include "service/peer_calls.hpp"

namespace troupe {
namespace {

using self_ptr = node_service_actor::pointer;
using clock = std::chrono::steady_clock;
using committed = std::function<void(caf::expected<std::uint64_t>)>;

// Errors a later attempt may not meet: no leader yet, a leader change, an
// entry lost to another leader, a slow commit.
bool retryable(const caf::error &e) {
  auto code = describe(e).code;
  return code == errc::not_leader || code == errc::unavailable || code == errc::deadline_exceeded;
}

void commit_draining(self_ptr self, const ctx_ptr &c, bool draining, clock::time_point until, committed then);

void retry_or_fail(self_ptr self, const ctx_ptr &c, bool draining, clock::time_point until, committed then,
                   const caf::error &e) {
  auto tick = config::tick(c->cfg);
  if (!retryable(e) || clock::now() + tick >= until) return then(e);
  after(self, tick, [=] { commit_draining(self, c, draining, until, then); });
}

// (a) The leader commits the entry: ours, or asked through the transport.
void ask_leader(self_ptr self, const ctx_ptr &c, bool draining, clock::time_point until, committed then,
                const caf::error &not_leader_err) {
  auto leader = describe(not_leader_err).leader_id;
  if (!leader) return retry_or_fail(self, c, draining, until, then, not_leader_err);
  self->request(c->transport, config::write_wait(c->cfg), drain_atom::value, leader, c->cfg.id, draining)
      .then([=](std::uint64_t index) { then(index); },
            [=](caf::error &e) { retry_or_fail(self, c, draining, until, then, e); });
}

void commit_draining(self_ptr self, const ctx_ptr &c, bool draining, clock::time_point until, committed then) {
  logpb::Command cmd;
  cmd.mutable_set_worker_draining()->set_worker_id(c->cfg.id);
  cmd.mutable_set_worker_draining()->set_draining(draining);
  self->request(c->raft, config::commit_wait(c->cfg), propose_atom::value, std::move(cmd))
      .then([=](const proposal_result &r) { then(std::uint64_t{r.index}); },
            [=](caf::error &e) {
              if (describe(e).code == errc::not_leader) return ask_leader(self, c, draining, until, then, e);
              retry_or_fail(self, c, draining, until, then, e);
            });
}

// (b) + (c): polls this node's table every tick until it has applied `index`
// and shows no active job here, or `deadline` passes.
void wait_idle(self_ptr self, const ctx_ptr &c, std::uint64_t index, clock::time_point deadline,
               std::function<void(const worker_load &, bool timed_out)> then) {
  self->request(c->table, config::query_timeout, workers_atom::value, c->cfg.id)
      .then(
          [=](const worker_load &w) {
            if (w.applied_index >= index && w.active == 0) return then(w, false);
            if (clock::now() >= deadline) return then(w, true);
            after(self, config::tick(c->cfg), [=] { wait_idle(self, c, index, deadline, then); });
          },
          [=](caf::error &) {
            if (clock::now() >= deadline) return then(worker_load{}, true);
            after(self, config::tick(c->cfg), [=] { wait_idle(self, c, index, deadline, then); });
          });
}

// (d) The successor: the most up-to-date voter this node reaches now,
// preferring a live, non-draining worker; 0 if it reaches none. A transfer
// to a node that stopped would only wait out its bound, and the heartbeat
// tracker and Raft's recent_active still count a node that stopped a moment
// ago (the last node of a cluster stopped one by one), its channel not.
std::uint64_t pick_successor(const ctx_ptr &c, const raft_status &rs, const worker_list &wl,
                             const std::set<std::uint64_t> &drained) {
  std::set<std::uint64_t> preferred;
  for (const auto &w : wl.workers)
    if (w.alive && !drained.count(w.report.node_id)) preferred.insert(w.report.node_id);
  std::uint64_t best = 0, best_match = 0;
  bool best_preferred = false;
  for (const auto &p : rs.peers) {
    if (p.id == c->cfg.id || !rs.conf.is_voter(p.id) || !c->peers->connected(p.id)) continue;
    const bool pref = preferred.count(p.id) > 0;
    if (best == 0 || (pref && !best_preferred) || (pref == best_preferred && p.match > best_match)) {
      best = p.id;
      best_match = p.match;
      best_preferred = pref;
    }
  }
  return best;
}

}  // namespace

void hand_off(self_ptr self, const ctx_ptr &c, std::function<void(std::string)> then) {
  self->request(c->raft, config::query_timeout, status_atom::value)
      .then(
          [=](const raft_status &rs) {
            if (rs.role != raft::role::leader || rs.conf.voter_count() < 2) return then(std::string());
            self->request(c->tracker, config::query_timeout, workers_atom::value)
                .then(
                    [=](const worker_list &wl) {
                      drained_workers(self, c, rs, [=](const std::set<std::uint64_t> &drained) {
                        auto target = pick_successor(c, rs, wl, drained);
                        if (target == 0) return then("leadership not handed away: no other voter is reachable");
                        self->request(c->raft, config::transfer_wait(c->cfg), transfer_atom::value, target)
                            .then(
                                [=](std::uint64_t leader) {
                                  then("leadership handed to node " + std::to_string(leader));
                                },
                                [=](caf::error &e) { then("could not hand leadership away: " + describe(e).message); });
                      });
                    },
                    [=](caf::error &e) { then("could not hand leadership away: " + describe(e).message); });
          },
          [=](caf::error &e) { then("could not hand leadership away: " + describe(e).message); });
}

void drain(self_ptr self, const ctx_ptr &c, caf::typed_response_promise<drain_result> rp) {
  auto id = std::to_string(c->cfg.id);
  TLOG(info, "node_service") << "draining node " << id;
  commit_draining(self, c, true, clock::now() + config::commit_wait(c->cfg),
                  [=](caf::expected<std::uint64_t> index) mutable {
                    if (!index) {
                      rp.deliver(index.error());
                      return;
                    }
                    wait_idle(self, c, *index, clock::now() + config::drain_jobs_wait,
                              [=](const worker_load &w, bool timed_out) mutable {
                                hand_off(self, c, [=](std::string handed) mutable {
                                  drain_result r;
                                  r.timed_out = timed_out;
                                  r.message = timed_out ? "timed out waiting for " + std::to_string(w.active) +
                                                              " job(s) on node " + id + " to finish"
                                                        : "drained: no jobs active on node " + id;
                                  if (!handed.empty()) r.message = handed + "; " + r.message;
                                  TLOG(info, "node_service") << r.message;
                                  rp.deliver(std::move(r));
                                });
                              });
                  });
}

void undrain(self_ptr self, const ctx_ptr &c, caf::typed_response_promise<std::string> rp) {
  commit_draining(self, c, false, clock::now() + config::commit_wait(c->cfg),
                  [=](caf::expected<std::uint64_t> index) mutable {
                    if (!index) {
                      rp.deliver(index.error());
                      return;
                    }
                    auto msg = "node " + std::to_string(c->cfg.id) + " accepts jobs again";
                    TLOG(info, "node_service") << msg;
                    rp.deliver(std::move(msg));
                  });
}

}  // namespace troupe
