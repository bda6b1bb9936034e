#include "service/node_service.hpp"

#include "actors/raft_node.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "runtime/common/wall_clock.hpp"
#include "service/drain_workflow.hpp"
#include "service/job_output.hpp"
#include "service/membership.hpp"
#include "service/peer_calls.hpp"
#include "service/service_context.hpp"
#include "service/snapshot_save.hpp"
#include "service/status_views.hpp"
#include "service/validate.hpp"

namespace troupe {
namespace {

using self_ptr = node_service_actor::pointer;
using config::query_timeout;

bool is(const caf::error &e, errc c) { return e.category() == error_category && static_cast<errc>(e.code()) == c; }

logpb::Command submit_command(const submit_request &req) {
  logpb::Command cmd;
  auto *s = cmd.mutable_submit_job();
  s->set_command(req.command);
  if (!req.image.empty()) s->set_image(req.image);
  s->set_timeout_s(req.timeout_s);
  return cmd;
}

// SubmitJob. Validation here, admission (jobs.max_active) on apply in the
// job table, so the cap holds under any concurrency. Proposed through the
// dispatcher, which places the job in its entry when it can.
caf::result<proposal_result> submit(self_ptr self, const ctx_ptr &c, submit_request req) {
  auto bad = validate::command(req.command, c->cfg.jobs.max_command_bytes);
  if (bad.empty() && !req.image.empty()) bad = validate::image(req.image);
  if (bad.empty()) bad = validate::timeout(req.timeout_s, c->cfg.executor.max_timeout_s);
  if (!bad.empty()) return make_error(errc::invalid_argument, bad);
  auto rp = self->make_response_promise<proposal_result>();
  self->request(c->dispatcher, config::commit_wait(c->cfg), submit_atom::value, submit_command(req))
      .then([=](proposal_result &r) mutable { rp.deliver(std::move(r)); },
            [=](caf::error &e) mutable {
              if (!is(e, errc::not_leader)) {
                rp.deliver(e);
                return;
              }
              // Only a node that is not the leader refuses jobs because its
              // table says it is draining. A draining LEADER accepts them:
              // the job table never places a job on a draining worker, so
              // the jobs run elsewhere; refusing would make a drained node
              // that wins an election refuse every SubmitJob cluster-wide.
              self->request(c->table, query_timeout, workers_atom::value, c->cfg.id)
                  .then(
                      [=](const worker_load &w) mutable {
                        if (w.draining) {
                          rp.deliver(make_error(errc::unavailable, "node " + std::to_string(c->cfg.id) +
                                                                       " is draining and accepts no new "
                                                                       "jobs; use another node"));
                          return;
                        }
                        if (!req.forward) {
                          rp.deliver(e);
                          return;
                        }
                        scheduler::SubmitJobRequest fwd;
                        fwd.set_command(req.command);
                        if (!req.image.empty()) fwd.set_image(req.image);
                        fwd.set_timeout_s(req.timeout_s);
                        peer_calls::forward_to_leader<proposal_result, scheduler::SubmitJobRequest,
                                                      scheduler::SubmitJobResponse>(
                            self, *c->peers, e, config::forward_wait(c->cfg), req.authorization, fwd,
                            [](auto *a, auto *ctx, auto *q, auto *p, auto cb) { a->SubmitJob(ctx, q, p, cb); },
                            [](const scheduler::SubmitJobResponse &r) {
                              return proposal_result{0, r.job_id(), ms_to_ns(r.created_at_ms())};
                            },
                            rp);
                      },
                      [=](caf::error &te) mutable { rp.deliver(te); });
            });
  return rp;
}

// CancelJob. The service stamps the time; whether the job exists and is
// still active is decided on apply (the table refuses "job not found" and
// "job is already <status>"), so no check here can race with the log.
caf::result<std::uint64_t> cancel(self_ptr self, const ctx_ptr &c, std::string id, bool forward,
                                  std::string authorization) {
  auto bad = validate::job_id(id);
  if (!bad.empty()) return make_error(errc::invalid_argument, bad);
  logpb::Command cmd;
  auto ns = wall_clock_ns();
  cmd.mutable_cancel_job()->set_job_id(id);
  cmd.mutable_cancel_job()->set_cancelled_at_ns(ns);
  cmd.mutable_cancel_job()->set_cancelled_at_ms(ns_to_ms(ns));
  auto rp = self->make_response_promise<std::uint64_t>();
  self->request(c->raft, config::commit_wait(c->cfg), propose_atom::value, std::move(cmd))
      .then([=](const proposal_result &r) mutable { rp.deliver(std::uint64_t{r.index}); },
            [=](caf::error &e) mutable {
              if (is(e, errc::not_found)) {
                rp.deliver(make_error(errc::not_found, "job " + id + " not found"));
                return;
              }
              if (!is(e, errc::not_leader) || !forward) {
                rp.deliver(e);
                return;
              }
              scheduler::CancelJobRequest fwd;
              fwd.set_job_id(id);
              peer_calls::forward_to_leader<std::uint64_t, scheduler::CancelJobRequest, scheduler::CancelJobResponse>(
                  self, *c->peers, e, config::forward_wait(c->cfg), authorization, fwd,
                  [](auto *a, auto *ctx, auto *q, auto *p, auto cb) { a->CancelJob(ctx, q, p, cb); },
                  [](const scheduler::CancelJobResponse &) { return std::uint64_t{0}; }, rp);
            });
  return rp;
}

caf::result<job_detail> get(self_ptr self, const ctx_ptr &c, std::string id, bool linearizable) {
  auto bad = validate::job_id(id);
  if (!bad.empty()) return make_error(errc::invalid_argument, bad);
  auto rp = self->make_response_promise<job_detail>();
  auto lookup = [=]() mutable {
    self->request(c->table, query_timeout, get_atom::value, id)
        .then(
            [=](job_lookup &l) mutable {
              if (!l.found) {
                rp.deliver(make_error(errc::not_found, "job " + id + " not found"));
                return;
              }
              job_detail d;
              d.job = std::move(l.job);
              // The replicated output is a prefix; the whole of it lives on the
              // node that ran the job.
              if (!d.job.output_truncated || d.job.executed_by == 0) {
                rp.deliver(std::move(d));
                return;
              }
              auto node = d.job.executed_by;
              fetch_output(self, c, node, id, [=](job_output o) mutable {
                d.output = std::move(o);
                rp.deliver(std::move(d));
              });
            },
            [=](caf::error &e) mutable { rp.deliver(e); });
  };
  if (!linearizable) {
    lookup();
    return rp;
  }
  // ReadIndex: the leader confirms it still leads and has applied every
  // entry committed before this request; then the local read is current.
  self->request(c->raft, config::commit_wait(c->cfg), read_atom::value)
      .then([=](std::uint64_t) mutable { lookup(); }, [=](caf::error &e) mutable { rp.deliver(e); });
  return rp;
}

caf::result<jobs::list_result> list(self_ptr self, const ctx_ptr &c, jobs::list_query q) {
  if (q.page_size > jobs::max_page_size) q.page_size = jobs::max_page_size;
  auto rp = self->make_response_promise<jobs::list_result>();
  self->request(c->table, query_timeout, list_atom::value, list_request{std::move(q)})
      .then(
          [=](list_reply &l) mutable {
            if (!l.error.empty()) {
              rp.deliver(make_error(errc::invalid_argument, l.error));
              return;
            }
            rp.deliver(std::move(l.result));
          },
          [=](caf::error &e) mutable { rp.deliver(e); });
  return rp;
}

// Questions only the leader answers well (liveness, the committed log): a
// follower that knows the leader forwards them, unless asked for its own view.
bool ask_the_leader(const raft_status &rs, bool local_only) {
  return !local_only && rs.role != raft::role::leader && rs.leader_id != raft::no_node;
}

// Liveness is the leader's knowledge (heartbeats go there): a follower that
// knows the leader forwards; otherwise this node answers from its own state.
caf::result<scheduler::GetClusterStatusResponse> cluster(self_ptr self, const ctx_ptr &c, bool local_only,
                                                         std::string authorization) {
  using response = scheduler::GetClusterStatusResponse;
  auto rp = self->make_response_promise<response>();
  auto fail = [=](caf::error &e) mutable { rp.deliver(e); };
  self->request(c->raft, query_timeout, status_atom::value)
      .then(
          [=](const raft_status &rs) mutable {
            if (ask_the_leader(rs, local_only)) {
              peer_calls::forward_to_leader<response, scheduler::GetClusterStatusRequest, response>(
                  self, *c->peers, not_leader(c->cfg, rs.leader_id, rs.conf), config::remote_query_wait(), authorization, {},
                  [](auto *a, auto *ctx, auto *q, auto *p, auto cb) { a->GetClusterStatus(ctx, q, p, cb); },
                  [](const response &r) { return r; }, rp);
              return;
            }
            self->request(c->tracker, query_timeout, workers_atom::value)
                .then(
                    [=](const worker_list &wl) mutable {
                      drained_workers(self, c, rs, [=](const std::set<std::uint64_t> &drained) mutable {
                        rp.deliver(views::cluster_status(c->cfg, rs, wl, drained));
                      });
                    },
                    fail);
          },
          fail);
  return rp;
}

caf::result<scheduler::GetRaftLogEntriesResponse> raft_log(self_ptr self, const ctx_ptr &c, std::uint64_t start,
                                                           std::uint32_t limit, bool local_only,
                                                           std::string authorization) {
  using response = scheduler::GetRaftLogEntriesResponse;
  auto rp = self->make_response_promise<response>();
  auto fail = [=](caf::error &e) mutable { rp.deliver(e); };
  self->request(c->raft, query_timeout, status_atom::value)
      .then(
          [=](const raft_status &rs) mutable {
            if (ask_the_leader(rs, local_only)) {
              scheduler::GetRaftLogEntriesRequest fwd;
              fwd.set_start_index(start);
              fwd.set_limit(limit);
              peer_calls::forward_to_leader<response, scheduler::GetRaftLogEntriesRequest, response>(
                  self, *c->peers, not_leader(c->cfg, rs.leader_id, rs.conf), config::remote_query_wait(), authorization, fwd,
                  [](auto *a, auto *ctx, auto *q, auto *p, auto cb) { a->GetRaftLogEntries(ctx, q, p, cb); },
                  [](const response &r) { return r; }, rp);
              return;
            }
            self->request(c->raft, query_timeout, log_atom::value, start, limit)
                .then([=](const log_page &page) mutable { rp.deliver(views::raft_log(page)); }, fail);
          },
          fail);
  return rp;
}

caf::result<std::uint64_t> transfer(self_ptr self, const ctx_ptr &c, std::uint64_t target, bool forward,
                                    std::string authorization) {
  // Whether `target` is a voter is the leader's to say (the replicated
  // configuration): raft_node answers invalid_argument otherwise.
  auto rp = self->make_response_promise<std::uint64_t>();
  self->request(c->raft, config::transfer_wait(c->cfg), transfer_atom::value, target)
      .then([=](std::uint64_t leader) mutable { rp.deliver(leader); },
            [=](caf::error &e) mutable {
              if (!is(e, errc::not_leader) || !forward) {
                rp.deliver(e);
                return;
              }
              scheduler::TransferLeadershipRequest fwd;
              fwd.set_target_node_id(target);
              peer_calls::forward_to_leader<std::uint64_t, scheduler::TransferLeadershipRequest,
                                            scheduler::TransferLeadershipResponse>(
                  self, *c->peers, e, config::transfer_forward_wait(c->cfg), authorization, fwd,
                  [](auto *a, auto *ctx, auto *q, auto *p, auto cb) { a->TransferLeadership(ctx, q, p, cb); },
                  [](const scheduler::TransferLeadershipResponse &r) { return std::uint64_t{r.new_leader_id()}; }, rp);
            });
  return rp;
}

caf::result<node_health> health(self_ptr self, const ctx_ptr &c) {
  auto rp = self->make_response_promise<node_health>();
  auto fail = [=](caf::error &e) mutable { rp.deliver(e); };
  self->request(c->raft, query_timeout, status_atom::value)
      .then(
          [=](raft_status &rs) mutable {
            self->request(c->table, query_timeout, stats_atom::value)
                .then(
                    [=](table_stats &ts) mutable {
                      self->request(c->table, query_timeout, workers_atom::value, c->cfg.id)
                          .then(
                              [=](const worker_load &w) mutable {
                                rp.deliver(node_health{rs, ts, w.draining});
                              },
                              fail);
                    },
                    fail);
          },
          fail);
  return rp;
}

caf::result<topology> actor_tree(self_ptr self, const ctx_ptr &c) {
  auto rp = self->make_response_promise<topology>();
  self->request(c->supervisor, query_timeout, topology_atom::value)
      .then(
          [=](const topology &executors) mutable {
            topology t = c->fixed_actors;
            t.actors.push_back({"node_service", self->id(), "bootstrap", "monitored by bootstrap",
                                "every client operation -> raft_node, job_table, job_dispatcher (SubmitJob), "
                                "heartbeat_tracker, job_supervisor, peer_transport"});
            t.actors.insert(t.actors.end(), executors.actors.begin(), executors.actors.end());
            rp.deliver(std::move(t));
          },
          [=](caf::error &e) mutable { rp.deliver(e); });
  return rp;
}

}  // namespace

node_service_actor::behavior_type node_service(self_ptr self, std::shared_ptr<node_service_init> init) {
  ctx_ptr c = std::move(init);
  return {
      [=](submit_atom, submit_request &r) { return submit(self, c, std::move(r)); },
      [=](cancel_atom, std::string &id, bool forward, std::string &authorization) {
        return cancel(self, c, std::move(id), forward, std::move(authorization));
      },
      [=](get_atom, std::string &id, bool linearizable) { return get(self, c, std::move(id), linearizable); },
      [=](list_atom, jobs::list_query &q) { return list(self, c, std::move(q)); },
      [=](subscribe_atom, change_listener l) -> caf::result<job_snapshot_view> {
        auto rp = self->make_response_promise<job_snapshot_view>();
        self->request(c->table, caf::infinite, subscribe_atom::value, l)
            .then([=](job_snapshot_view &v) mutable { rp.deliver(std::move(v)); },
                  [=](caf::error &e) mutable { rp.deliver(e); });
        return rp;
      },
      [=](unsub_atom, change_listener l) { self->send(c->table, unsub_atom::value, l); },
      [=](cluster_atom, bool local_only, std::string &authorization) {
        return cluster(self, c, local_only, std::move(authorization));
      },
      [=](log_atom, std::uint64_t start, std::uint32_t limit, bool local_only, std::string &authorization) {
        return raft_log(self, c, start, limit, local_only, std::move(authorization));
      },
      [=](transfer_atom, std::uint64_t target, bool forward, std::string &authorization) {
        return transfer(self, c, target, forward, std::move(authorization));
      },
      [=](drain_atom) -> caf::result<drain_result> {
        auto rp = self->make_response_promise<drain_result>();
        drain(self, c, rp);
        return rp;
      },
      [=](undrain_atom) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        undrain(self, c, rp);
        return rp;
      },
      [=](shutdown_atom) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        hand_off(self, c, [=](std::string handed) mutable { rp.deliver(std::move(handed)); });
        return rp;
      },
      [=](member_atom, member_change &change) { return change_members(self, c, std::move(change)); },
      [=](member_atom, bool local) { return list_members(self, c, local); },
      [=](status_atom) { return health(self, c); },
      [=](topology_atom) { return actor_tree(self, c); },
      [=](backup_atom) -> caf::result<table_image> {
        auto rp = self->make_response_promise<table_image>();
        save_snapshot(self, c, rp);
        return rp;
      },
      [=](forward_atom, const std::shared_ptr<std::function<void()>> &continuation) { (*continuation)(); },
  };
}

}  // namespace troupe
