#include "gateway/grpc_peer_services.hpp"

#include <caf/send.hpp>

#include "actors/raft_node.hpp"
#include "config/timeouts.hpp"
#include "gateway/ask.hpp"
#include "gateway/grpc_errors.hpp"
#include "protocol/raft_codec.hpp"
#include "service/validate.hpp"

namespace troupe {
namespace {

class internal_service final : public internalpb::InternalService::CallbackService {
 public:
  internal_service(caf::actor_system& sys, config::node_config cfg, raft_node_actor raft,
                   heartbeat_tracker_actor tracker, node_service_actor service)
      : sys_(sys), cfg_(std::move(cfg)), raft_(raft), tracker_(tracker), service_(service) {}

  grpc::ServerUnaryReactor* GetJobOutput(grpc::CallbackServerContext* ctx, const internalpb::GetJobOutputRequest* req,
                                         internalpb::GetJobOutputResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    auto bad = validate::job_id(req->job_id());
    if (!bad.empty()) {
      r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, bad));
      return r;
    }
    ask(sys_, service_, config::query_timeout,
        [=](const job_output& out) {
          resp->set_found(out.found);
          resp->set_stdout_data(out.stdout_data);
          resp->set_stderr_data(out.stderr_data);
          resp->set_truncated(out.truncated);
          resp->set_stdout_size(out.stdout_bytes);
          resp->set_stderr_size(out.stderr_bytes);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) { r->Finish(to_status(ctx, e)); }, output_atom::value, req->job_id());
    return r;
  }

  grpc::ServerUnaryReactor* WorkerHeartbeat(grpc::CallbackServerContext* ctx,
                                            const internalpb::WorkerHeartbeatRequest* req,
                                            internalpb::WorkerHeartbeatResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    worker_report w;
    w.node_id = req->node_id();
    w.address = req->address();
    w.http_address = req->http_address();
    w.draining = req->draining();
    w.executor_ok = req->executor_ok();
    w.executor_backend = req->executor_backend();
    w.capacity = req->capacity();
    w.running_jobs.assign(req->running_jobs().begin(), req->running_jobs().end());
    if (!cfg_.find_member(w.node_id)) {
      r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "node " + std::to_string(w.node_id) + " is not a member of this cluster"));
      return r;
    }
    ask(sys_, tracker_, config::query_timeout,
        [=](const heartbeat_reply& h) {
          resp->set_accepted(h.accepted);
          resp->set_leader_id(h.leader_id);
          resp->set_term(h.term);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) { r->Finish(to_status(ctx, e)); }, heartbeat_atom::value, w);
    return r;
  }

  grpc::ServerUnaryReactor* ForwardJobStatus(grpc::CallbackServerContext* ctx,
                                             const internalpb::ForwardJobStatusRequest* req,
                                             internalpb::ForwardJobStatusResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    logpb::Command cmd;
    for (const auto& u : req->updates()) *cmd.mutable_batch_update_job_status()->add_updates() = u;
    ask(sys_, raft_, config::commit_wait(cfg_),
        [=](const proposal_result&) {
          resp->set_accepted(true);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) {
          // Refused on apply (stale attempt, already terminal) is final: the
          // worker must not retry it.
          resp->set_accepted(refused_on_apply(e));
          resp->set_message(describe(e).message);
          r->Finish(grpc::Status::OK);
        },
        propose_atom::value, cmd);
    return r;
  }

  grpc::ServerUnaryReactor* SetWorkerDraining(grpc::CallbackServerContext* ctx,
                                              const internalpb::SetWorkerDrainingRequest* req,
                                              internalpb::SetWorkerDrainingResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    if (!cfg_.find_member(req->worker_id())) {
      r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "node " + std::to_string(req->worker_id()) + " is not a member of this cluster"));
      return r;
    }
    logpb::Command cmd;
    cmd.mutable_set_worker_draining()->set_worker_id(req->worker_id());
    cmd.mutable_set_worker_draining()->set_draining(req->draining());
    ask(sys_, raft_, config::commit_wait(cfg_),
        [=](const proposal_result& p) {
          resp->set_commit_index(p.index);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) { r->Finish(to_status(ctx, e)); }, propose_atom::value, cmd);
    return r;
  }

 private:
  caf::actor_system& sys_;
  config::node_config cfg_;
  raft_node_actor raft_;
  heartbeat_tracker_actor tracker_;
  node_service_actor service_;
};

class raft_service final : public raftpb::RaftService::CallbackService {
 public:
  explicit raft_service(raft_node_actor raft) : raft_(std::move(raft)) {}

  grpc::ServerUnaryReactor* AppendEntries(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                          raftpb::Ack*) override {
    return deliver(ctx, req);
  }
  grpc::ServerUnaryReactor* RequestVote(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                        raftpb::Ack*) override {
    return deliver(ctx, req);
  }
  grpc::ServerUnaryReactor* TimeoutNow(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                       raftpb::Ack*) override {
    return deliver(ctx, req);
  }
  grpc::ServerUnaryReactor* InstallSnapshot(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                            raftpb::Ack*) override {
    return deliver(ctx, req);
  }

 private:
  grpc::ServerUnaryReactor* deliver(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req) {
    for (const auto& m : req->messages()) caf::anon_send(raft_, step_atom::value, codec::from_proto(m));
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  raft_node_actor raft_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_internal_service(caf::actor_system& sys, config::node_config cfg,
                                                     raft_node_actor raft, heartbeat_tracker_actor tracker,
                                                     node_service_actor service) {
  return std::make_unique<internal_service>(sys, std::move(cfg), raft, tracker, service);
}

std::unique_ptr<grpc::Service> make_raft_service(raft_node_actor raft) {
  return std::make_unique<raft_service>(std::move(raft));
}

}  // namespace troupe
