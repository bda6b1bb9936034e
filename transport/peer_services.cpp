#include "transport/peer_services.hpp"

#include <atomic>
#include <mutex>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "config/timeouts.hpp"
#include "internal.grpc.pb.h"
#include "protocol/raft_codec.hpp"
#include "raft.grpc.pb.h"
#include "runtime/common/wall_clock.hpp"
#include "runtime/jobs/uuid.hpp"
#include "transport/ask.hpp"
#include "transport/grpc_status.hpp"
#include "transport/internal_codec.hpp"
#include "transport/peer_identity.hpp"
#include "transport/peer_validation.hpp"
#include "transport/status_report.hpp"

namespace troupe {
namespace {

// The call finished with `s` when the caller may not send this message (see
// transport/peer_identity.hpp); nullptr when it may go on. Each check comes
// before the handler takes the call's one DefaultReactor.
grpc::ServerUnaryReactor* refused(grpc::CallbackServerContext* ctx, const grpc::Status& s) {
  if (s.ok()) return nullptr;
  auto* r = ctx->DefaultReactor();
  r->Finish(s);
  return r;
}

// When `why` (a transport/peer_validation check's answer) is empty: OK (go
// on). Otherwise INVALID_ARGUMENT "<method> refused: <why>", logged at most
// once per second per method (note_refused).
grpc::Status invalid_status(const grpc::ServerContextBase& ctx, const char* method, const std::string& why) {
  if (why.empty()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, transport::note_refused(ctx.peer(), method, why));
}

// ---------------------------------------------------------------------------
class internal_service final : public internalpb::InternalService::CallbackService {
 public:
  internal_service(caf::actor_system& sys, config::node_config cfg, peer_inbox inbox,
                   std::shared_ptr<const transport::peer_identity> identity,
                   std::shared_ptr<const transport::member_directory> members)
      : ask_(sys),
        cfg_(std::move(cfg)),
        inbox_(std::move(inbox)),
        identity_(std::move(identity)),
        rules_(transport::peer_rules::from(cfg_, std::move(members))) {}

  grpc::ServerUnaryReactor* GetJobOutput(grpc::CallbackServerContext* ctx, const internalpb::GetJobOutputRequest* req,
                                         internalpb::GetJobOutputResponse* resp) override {
    if (auto* no = refused(ctx, identity_->verify(*ctx, "GetJobOutput", {}))) return no;  // any member may ask
    auto* r = ctx->DefaultReactor();
    if (!jobs::is_valid_uuid(req->job_id())) {
      r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "malformed job id \"" + req->job_id().substr(0, 64) + "\": expected a UUID"));
      return r;
    }
    relay<job_output>(ctx, r, resp, inbox_.outputs, output_atom::value, req->job_id());
    return r;
  }

  grpc::ServerUnaryReactor* WorkerHeartbeat(grpc::CallbackServerContext* ctx,
                                            const internalpb::WorkerHeartbeatRequest* req,
                                            internalpb::WorkerHeartbeatResponse* resp) override {
    if (auto* no = refused(ctx, identity_->verify(*ctx, "WorkerHeartbeat", {req->node_id()}))) return no;
    if (auto* bad = refused(ctx, invalid_status(*ctx, "WorkerHeartbeat",
                                                           transport::check_worker_heartbeat(*req, rules_))))
      return bad;
    auto* r = ctx->DefaultReactor();  // check_worker_heartbeat refused a non-member already
    relay<heartbeat_reply>(ctx, r, resp, inbox_.heartbeats, heartbeat_atom::value, transport::from_proto(*req));
    return r;
  }

  // Answers OK with accepted = final (status_report.hpp): the worker resends
  // what is not final, so a refusal is an answer here, not a gRPC error.
  grpc::ServerUnaryReactor* ForwardJobStatus(grpc::CallbackServerContext* ctx,
                                             const internalpb::ForwardJobStatusRequest* req,
                                             internalpb::ForwardJobStatusResponse* resp) override {
    // A node reports only the jobs it ran itself.
    std::vector<std::uint64_t> reporters;
    for (const auto& u : req->updates()) reporters.push_back(u.executed_by());
    if (auto* no = refused(ctx, identity_->verify(*ctx, "ForwardJobStatus", reporters))) return no;
    if (auto* bad = refused(ctx, invalid_status(*ctx, "ForwardJobStatus",
                                                           transport::check_forward_job_status(*req, rules_))))
      return bad;
    auto* r = ctx->DefaultReactor();
    status_batch batch;
    batch.updates.assign(req->updates().begin(), req->updates().end());
    if (auto off = transport::align_report_times(batch.updates, wall_clock_ns(), rules_))
      transport::note_report_times_moved(req->updates(0).executed_by(), off);
    auto raft = inbox_.raft;
    auto wait = config::commit_wait(cfg_);
    auto answer = [=](const caf::error& e) {
      auto ack = acknowledge(0, e);
      resp->set_accepted(ack.final);
      resp->set_message(ack.message);
      r->Finish(grpc::Status::OK);
    };
    ask_.ask(
        raft, wait, [=](const proposal_result&) { answer(caf::error{}); }, answer, propose_atom::value,
        status_command(batch));
    return r;
  }

  grpc::ServerUnaryReactor* SetWorkerDraining(grpc::CallbackServerContext* ctx,
                                              const internalpb::SetWorkerDrainingRequest* req,
                                              internalpb::SetWorkerDrainingResponse* resp) override {
    // A node drains only itself (service/drain_workflow.cpp).
    if (auto* no = refused(ctx, identity_->verify(*ctx, "SetWorkerDraining", {req->worker_id()}))) return no;
    auto* r = ctx->DefaultReactor();
    if (!rules_.is_member(req->worker_id())) {
      r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "node " + std::to_string(req->worker_id()) + " is not a member of this cluster"));
      return r;
    }
    logpb::Command cmd;
    cmd.mutable_set_worker_draining()->set_worker_id(req->worker_id());
    cmd.mutable_set_worker_draining()->set_draining(req->draining());
    auto raft = inbox_.raft;
    auto wait = config::commit_wait(cfg_);
    ask_.ask(
        raft, wait,
        [=](const proposal_result& p) {
          resp->set_commit_index(p.index);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) { r->Finish(transport::to_status(*ctx, e)); }, propose_atom::value, cmd);
    return r;
  }

 private:
  // Asks `target` (xs: the request) and finishes the call with its answer as
  // `resp` (transport::to_proto), or with its error.
  template <class Reply, class Response, class Handle, class... Ts>
  void relay(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* r, Response* resp, const Handle& target,
             Ts... xs) {
    ask_.ask(
        target, config::query_timeout,
        [=](const Reply& reply) {
          transport::to_proto(reply, resp);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) { r->Finish(transport::to_status(*ctx, e)); }, std::move(xs)...);
  }

  asker ask_;  // makes each call's request to an actor, and finishes the call
  config::node_config cfg_;
  peer_inbox inbox_;
  std::shared_ptr<const transport::peer_identity> identity_;
  transport::peer_rules rules_;
};

// ---------------------------------------------------------------------------
// One-way: every message of a batch is stepped into raft_node; the call ends
// at once (answers travel as Raft messages of their own).
class raft_service final : public raftpb::RaftService::CallbackService {
 public:
  raft_service(raft_inbox raft, const config::node_config& cfg, std::shared_ptr<const transport::peer_identity> identity,
               std::shared_ptr<const transport::member_directory> members)
      : raft_(std::move(raft)),
        identity_(std::move(identity)),
        rules_(transport::peer_rules::from(cfg, std::move(members))) {}

  grpc::ServerUnaryReactor* AppendEntries(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                          raftpb::Ack*) override {
    return deliver(ctx, req, "RaftService.AppendEntries", codec::raft_rpc::append_entries);
  }
  grpc::ServerUnaryReactor* RequestVote(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                        raftpb::Ack*) override {
    return deliver(ctx, req, "RaftService.RequestVote", codec::raft_rpc::request_vote);
  }
  grpc::ServerUnaryReactor* TimeoutNow(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                       raftpb::Ack*) override {
    return deliver(ctx, req, "RaftService.TimeoutNow", codec::raft_rpc::timeout_now);
  }
  grpc::ServerUnaryReactor* InstallSnapshot(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req,
                                            raftpb::Ack*) override {
    return deliver(ctx, req, "RaftService.InstallSnapshot", codec::raft_rpc::install_snapshot);
  }
  // The AppendEntries family from one peer, batch after batch, for as long
  // as the peer keeps the stream open (transport/raft_stream.hpp). Each batch
  // is checked as a unary call's would be. A batch refused for what it holds
  // is dropped alone, as a refused call would be; a sender refused for who
  // it is (no certificate, not a member) ends the stream with that status,
  // which the sender logs.
  grpc::ServerBidiReactor<raftpb::RaftBatch, raftpb::Ack>* Stream(grpc::CallbackServerContext* ctx) override {
    auto* r = new stream_reader(ctx, this);
    std::lock_guard<std::mutex> lock(open_mutex_);
    open_.insert(r);
    if (stopping_.load()) ctx->TryCancel();
    return r;
  }

  // Ends every inbound stream now, not at its sender's next batch: a peer
  // that has nothing more to send this node (a follower once this node
  // handed leadership away) would otherwise hold the server's shutdown
  // until its deadline.
  void stop_streams() {
    stopping_.store(true);
    std::lock_guard<std::mutex> lock(open_mutex_);
    for (auto* r : open_) r->cancel();
  }

 private:
  class stream_reader final : public grpc::ServerBidiReactor<raftpb::RaftBatch, raftpb::Ack> {
   public:
    stream_reader(grpc::CallbackServerContext* ctx, const raft_service* service) : ctx_(ctx), service_(service) {
      StartRead(&batch_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {  // the sender closed or cancelled it
        Finish(grpc::Status::OK);
        return;
      }
      if (service_->stopping_.load()) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "node shutting down"));
        return;
      }
      auto s = service_->admit(*ctx_, batch_, "RaftService.Stream", codec::raft_rpc::append_entries);
      if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        Finish(s);
        return;
      }
      if (s.ok()) service_->step(batch_);
      batch_.Clear();
      StartRead(&batch_);
    }
    void OnDone() override {
      {
        std::lock_guard<std::mutex> lock(service_->open_mutex_);
        service_->open_.erase(this);
      }
      delete this;
    }
    void cancel() { ctx_->TryCancel(); }  // thread-safe; the pending read then ends, not ok

   private:
    grpc::CallbackServerContext* ctx_;
    const raft_service* service_;
    raftpb::RaftBatch batch_;
  };

  grpc::ServerUnaryReactor* deliver(grpc::CallbackServerContext* ctx, const raftpb::RaftBatch* req, const char* method,
                                    codec::raft_rpc family) {
    auto* r = ctx->DefaultReactor();
    auto s = admit(*ctx, *req, method, family);
    if (s.ok()) step(*req);
    r->Finish(s);
    return r;
  }

  // Nothing of a batch is stepped unless every message comes from the
  // certified node (one forged TimeoutNow or AppendEntries is enough to take
  // over leadership or diverge a state machine) and all of it passes
  // validation. Who first, then what: a stranger learns nothing from the
  // validation's answers.
  grpc::Status admit(const grpc::CallbackServerContext& ctx, const raftpb::RaftBatch& req, const char* method,
                     codec::raft_rpc family) const {
    std::vector<std::uint64_t> senders;
    for (const auto& m : req.messages()) senders.push_back(m.from());
    if (auto s = identity_->verify(ctx, method, senders); !s.ok()) return s;
    // A sender outside this node's configuration (removed, or not yet added
    // here) gets FAILED_PRECONDITION, not INVALID_ARGUMENT: its transport
    // tells its operator (a removed node hears of its removal this way).
    if (auto stranger = transport::check_raft_senders(req, rules_); !stranger.empty())
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, stranger);
    return invalid_status(ctx, method, transport::check_raft_batch(req, family, rules_));
  }

  void step(const raftpb::RaftBatch& req) const {
    for (const auto& m : req.messages()) caf::anon_send(raft_, step_atom::value, codec::from_proto(m));
  }

  raft_inbox raft_;
  std::shared_ptr<const transport::peer_identity> identity_;
  transport::peer_rules rules_;
  std::atomic<bool> stopping_{false};
  // Streams not yet done (OnDone removes each), for stop_streams.
  mutable std::mutex open_mutex_;
  mutable std::set<stream_reader*> open_;
};

}  // namespace

struct peer_services {
  std::unique_ptr<internal_service> internal;
  std::unique_ptr<raft_service> raft;
};

void stop_inbound_streams(peer_services& s) { s.raft->stop_streams(); }

std::shared_ptr<peer_services> add_peer_services(grpc::ServerBuilder& builder, caf::actor_system& sys,
                                                 const config::node_config& cfg, peer_inbox inbox,
                                                 std::shared_ptr<const transport::member_directory> members) {
  auto s = std::make_shared<peer_services>();
  auto identity = std::make_shared<const transport::peer_identity>(cfg, members);
  s->raft = std::make_unique<raft_service>(inbox.raft, cfg, identity, members);
  s->internal = std::make_unique<internal_service>(sys, cfg, std::move(inbox), identity, members);
  builder.RegisterService(s->internal.get());
  builder.RegisterService(s->raft.get());
  return s;
}

}  // namespace troupe
