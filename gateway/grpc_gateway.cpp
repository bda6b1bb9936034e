#include "gateway/grpc_gateway.hpp"

#include <deque>
#include <mutex>

#include <caf/stateful_actor.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "actors/raft_node.hpp"
#include "gateway/ask.hpp"
#include "gateway/grpc_metrics.hpp"
#include "gateway/views.hpp"
#include "transport/peer_services.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/wall_clock.hpp"
#include "runtime/exec/backend.hpp"
#include "runtime/exec/output_store.hpp"

namespace troupe {
namespace {

using std::chrono::milliseconds;
constexpr auto query_timeout = milliseconds(5000);
constexpr char forwarded_key[] = "x-troupe-forwarded";

grpc::Status to_status(grpc::CallbackServerContext* ctx, const outcome& o) {
  if (o.not_leader) {
    ctx->AddTrailingMetadata("leader-id", std::to_string(o.leader_id));
    ctx->AddTrailingMetadata("leader-address", o.leader_address);
  }
  return grpc::Status(views::grpc_code(o.status), o.message);
}

grpc::Status actor_error(caf::actor_system& sys, const caf::error& e) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is not answering: " + sys.render(e));
}

// Finishes r with INVALID_ARGUMENT when the request has a problem; true if so.
bool reject_invalid(grpc::ServerUnaryReactor* r, const std::string& problem) {
  if (problem.empty()) return false;
  r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, problem));
  return true;
}

bool is_forwarded(grpc::CallbackServerContext* ctx) {
  return ctx->client_metadata().count(forwarded_key) > 0;
}

// ---------------------------------------------------------------------------
// StreamJobs: current jobs, then every committed change, in order. A listener
// actor subscribed to job_table feeds a queue that the reactor drains one
// write at a time. The queue lives in a shared object so the listener never
// touches a reactor that gRPC has already finished with.
class job_stream;

struct stream_queue {
  static constexpr std::size_t max_backlog = 100000;
  std::mutex mu;
  std::deque<scheduler::JobInfo> queue;
  bool writing = false;
  bool closed = false;
  job_stream* reactor = nullptr;  // valid while !closed

  void push(std::vector<scheduler::JobInfo> infos);
};

class job_stream final : public grpc::ServerWriteReactor<scheduler::JobInfo> {
 public:
  job_stream(caf::actor_system& sys, job_table_actor table, scheduler::JobStatus filter)
      : q_(std::make_shared<stream_queue>()), table_(table) {
    q_->reactor = this;
    auto q = q_;
    auto keep = [filter](std::vector<scheduler::JobInfo>& out, const jobs::job& j) {
      if (filter != scheduler::JOB_STATUS_UNSPECIFIED && static_cast<int>(j.status) != filter) return;
      views::to_job_info(j, &out.emplace_back());
    };
    listener_ = sys.spawn([q, table, keep](change_listener::pointer self) -> change_listener::behavior_type {
      self->request(table, caf::infinite, subscribe_atom::value, change_listener{self})
          .then([q, keep](job_snapshot_view& v) {
            std::vector<scheduler::JobInfo> out;
            for (const auto& j : v.jobs) keep(out, j);
            q->push(std::move(out));
          });
      return {
          [q, keep](const job_changes& jc) {
            std::vector<scheduler::JobInfo> out;
            for (const auto& c : jc.changes)
              if (c.kind != jobs::change_kind::evicted) keep(out, c.after);
            q->push(std::move(out));
          },
      };
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> g(q_->mu);
    q_->queue.pop_front();
    if (!ok) {  // the client went away
      if (!q_->closed) {
        q_->closed = true;
        Finish(grpc::Status::CANCELLED);
      }
      return;
    }
    if (q_->closed) return;
    if (!q_->queue.empty()) {
      StartWrite(&q_->queue.front());
    } else {
      q_->writing = false;
    }
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> g(q_->mu);
    if (q_->closed) return;
    q_->closed = true;
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> g(q_->mu);
      q_->closed = true;
      q_->reactor = nullptr;
    }
    caf::anon_send(table_, unsub_atom::value, listener_);
    caf::anon_send_exit(listener_, caf::exit_reason::user_shutdown);
    delete this;
  }

  void start_write(const scheduler::JobInfo* info) { StartWrite(info); }
  void finish(grpc::Status s) { Finish(std::move(s)); }

 private:
  std::shared_ptr<stream_queue> q_;
  job_table_actor table_;
  change_listener listener_;
};

void stream_queue::push(std::vector<scheduler::JobInfo> infos) {
  std::lock_guard<std::mutex> g(mu);
  if (closed || !reactor) return;
  for (auto& i : infos) queue.push_back(std::move(i));
  if (queue.size() > max_backlog) {
    closed = true;
    reactor->finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "stream reader is too slow; reconnect"));
    return;
  }
  if (!writing && !queue.empty()) {
    writing = true;
    reactor->start_write(&queue.front());
  }
}

// ---------------------------------------------------------------------------
class scheduler_service final : public scheduler::SchedulerService::CallbackService {
 public:
  scheduler_service(caf::actor_system& sys, config::node_config cfg, node_handles nodes,
                    std::shared_ptr<const peer_clients> peers)
      : sys_(sys), cfg_(std::move(cfg)), nodes_(std::move(nodes)), peers_(std::move(peers)) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx, const scheduler::SubmitJobRequest* req,
                                      scheduler::SubmitJobResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    auto bad = views::check_command(req->command(), cfg_.jobs.max_command_bytes);
    if (bad.empty() && req->has_image()) bad = views::check_image(req->image());
    if (reject_invalid(r, bad)) return r;
    logpb::Command cmd;
    auto* s = cmd.mutable_submit_job();
    s->set_command(req->command());
    if (req->has_image() && !req->image().empty()) s->set_image(req->image());
    s->set_timeout_s(req->timeout_s());
    auto max_active = cfg_.jobs.max_active;
    ask(sys_, nodes_.table, query_timeout,
        [=](const table_stats& stats) {
          if (stats.active >= max_active) {
            r->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "too many active jobs (" + std::to_string(stats.active) + ", limit " +
                                       std::to_string(max_active) + "); retry later"));
            return;
          }
          ask(sys_, nodes_.raft, commit_wait(),
              [=](const outcome& o) {
                if (o.ok()) {
                  resp->set_job_id(o.job_id);
                  resp->set_created_at_ms(o.created_at_ns / 1000000);
                }
                r->Finish(to_status(ctx, o));
              },
              [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); }, propose_atom::value, cmd);
        },
        [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); }, stats_atom::value);
    return r;
  }

  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx, const scheduler::CancelJobRequest* req,
                                      scheduler::CancelJobResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    if (reject_invalid(r, views::check_job_id(req->job_id()))) return r;
    auto id = req->job_id();
    auto fail = [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); };
    // Leader first (a follower redirects), then existence and state, then the entry.
    ask(sys_, nodes_.raft, query_timeout,
        [=](const raft_status& rs) {
          if (rs.role != raft::role::leader) {
            r->Finish(to_status(ctx, not_leader_outcome(cfg_, rs.leader_id)));
            return;
          }
          ask(sys_, nodes_.table, query_timeout,
              [=](const job_lookup& l) {
                if (!l.found) {
                  r->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "job " + id + " not found"));
                  return;
                }
                if (jobs::is_terminal(l.job.status)) {
                  resp->set_success(false);
                  resp->set_message(std::string("job is already ") + jobs::to_string(l.job.status));
                  r->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, resp->message()));
                  return;
                }
                logpb::Command cmd;
                cmd.mutable_cancel_job()->set_job_id(id);
                auto ns = wall_clock_ns();
                cmd.mutable_cancel_job()->set_cancelled_at_ns(ns);
                cmd.mutable_cancel_job()->set_cancelled_at_ms(ns / 1000000);
                ask(sys_, nodes_.raft, commit_wait(),
                    [=](const outcome& o) {
                      resp->set_success(o.ok());
                      resp->set_message(o.ok() ? "job " + id + " cancelled" : o.message);
                      r->Finish(to_status(ctx, o));
                    },
                    fail, propose_atom::value, cmd);
              },
              fail, get_atom::value, id);
        },
        fail, status_atom::value);
    return r;
  }

  grpc::ServerUnaryReactor* GetJobStatus(grpc::CallbackServerContext* ctx, const scheduler::GetJobStatusRequest* req,
                                         scheduler::GetJobStatusResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    if (reject_invalid(r, views::check_job_id(req->job_id()))) return r;
    auto id = req->job_id();
    auto lookup = [=] {
      ask(sys_, nodes_.table, query_timeout,
        [=](const job_lookup& l) {
          if (!l.found) {
            r->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "job " + id + " not found"));
            return;
          }
          views::to_job_status(l.job, resp);
          if (!l.job.output_truncated || l.job.executed_by == 0) {
            r->Finish(grpc::Status::OK);
            return;
          }
          fetch_output(l.job.executed_by, id, resp, r);
        },
        [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); }, get_atom::value, id);
    };
    if (!req->linearizable()) {
      lookup();
      return r;
    }
    // ReadIndex: the leader confirms it still leads and has applied every
    // entry committed before this request; then the local read is current.
    ask(sys_, nodes_.raft, commit_wait(),
        [=](const outcome& o) {
          if (!o.ok()) {
            r->Finish(to_status(ctx, o));
            return;
          }
          lookup();
        },
        [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); }, read_atom::value);
    return r;
  }

  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx, const scheduler::ListJobsRequest* req,
                                     scheduler::ListJobsResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    ask(sys_, nodes_.table, query_timeout,
        [=](const list_reply& l) {
          if (!l.error.empty()) {
            r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, l.error));
            return;
          }
          for (const auto& j : l.result.jobs) views::to_job_info(j, resp->add_jobs());
          resp->set_next_page_token(l.result.next_page_token);
          resp->set_total_count(l.result.total_count);
          r->Finish(grpc::Status::OK);
        },
        [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); }, list_atom::value,
        list_request{views::to_list_query(*req)});
    return r;
  }

  grpc::ServerWriteReactor<scheduler::JobInfo>* StreamJobs(grpc::CallbackServerContext*,
                                                            const scheduler::StreamJobsRequest* req) override {
    return new job_stream(sys_, nodes_.table, req->status_filter());
  }

  grpc::ServerUnaryReactor* GetClusterStatus(grpc::CallbackServerContext* ctx,
                                             const scheduler::GetClusterStatusRequest* req,
                                             scheduler::GetClusterStatusResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    auto fail = [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); };
    bool forwarded = is_forwarded(ctx);
    ask(sys_, nodes_.raft, query_timeout,
        [=](const raft_status& rs) {
          if (rs.role != raft::role::leader && rs.leader_id != raft::no_node && !forwarded) {
            forward(rs.leader_id,
                    [](auto* a, auto* c, auto* q, auto* p, auto cb) { a->GetClusterStatus(c, q, p, std::move(cb)); },
                    *req, resp, r);
            return;
          }
          ask(sys_, nodes_.tracker, query_timeout,
              [=](const worker_list& wl) {
                *resp = views::cluster_status(cfg_, rs, wl);
                r->Finish(grpc::Status::OK);
              },
              fail, workers_atom::value);
        },
        fail, status_atom::value);
    return r;
  }

  grpc::ServerUnaryReactor* GetRaftLogEntries(grpc::CallbackServerContext* ctx,
                                              const scheduler::GetRaftLogEntriesRequest* req,
                                              scheduler::GetRaftLogEntriesResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    auto fail = [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); };
    bool forwarded = is_forwarded(ctx);
    auto start = req->start_index();
    auto limit = req->limit();
    ask(sys_, nodes_.raft, query_timeout,
        [=](const raft_status& rs) {
          if (rs.role != raft::role::leader && rs.leader_id != raft::no_node && !forwarded) {
            forward(rs.leader_id,
                    [](auto* a, auto* c, auto* q, auto* p, auto cb) { a->GetRaftLogEntries(c, q, p, std::move(cb)); },
                    *req, resp, r);
            return;
          }
          ask(sys_, nodes_.raft, query_timeout,
              [=](const log_page& page) {
                *resp = views::raft_log(page);
                r->Finish(grpc::Status::OK);
              },
              fail, log_atom::value, start, limit);
        },
        fail, status_atom::value);
    return r;
  }

  grpc::ServerUnaryReactor* TransferLeadership(grpc::CallbackServerContext* ctx,
                                               const scheduler::TransferLeadershipRequest* req,
                                               scheduler::TransferLeadershipResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    auto wait = milliseconds(std::max<std::uint64_t>(2000, 3ull * cfg_.raft.election_ticks * cfg_.raft.tick_ms) + 2000);
    ask(sys_, nodes_.raft, wait,
        [=](const outcome& o) {
          resp->set_success(o.ok());
          resp->set_message(o.message);
          resp->set_new_leader_id(o.ok() ? o.leader_id : 0);
          r->Finish(to_status(ctx, o));
        },
        [=](const caf::error& e) { r->Finish(actor_error(sys_, e)); }, transfer_atom::value,
        std::uint64_t{req->target_node_id()});
    return r;
  }

  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* ctx, const scheduler::DrainNodeRequest*,
                                      scheduler::DrainNodeResponse* resp) override {
    auto* r = ctx->DefaultReactor();
    drain(sys_, cfg_, nodes_, [=](const outcome& o) {
      resp->set_success(o.ok() || o.status == code::deadline_exceeded);
      resp->set_timed_out(o.status == code::deadline_exceeded);
      resp->set_message(o.message);
      r->Finish(grpc::Status::OK);
    });
    return r;
  }

  // Drain: refuse new jobs, hand leadership away if we lead, then wait (at
  // most 60 s) for the jobs running here. Shared with the HTTP gateway.
  static void drain(caf::actor_system& system, const config::node_config& cfg, const node_handles& nodes,
                    std::function<void(const outcome&)> done) {
    auto* sys = &system;
    auto fail = [=](const caf::error& e) { done(outcome::fail(code::unavailable, sys->render(e))); };
    auto transfer_wait =
        milliseconds(std::max<std::uint64_t>(2000, 3ull * cfg.raft.election_ticks * cfg.raft.tick_ms) + 2000);
    auto wait_jobs = [=](std::string handed) {
      ask(*sys, nodes.supervisor, milliseconds(65000),
          [=](outcome o) {
            if (!handed.empty()) o.message = handed + "; " + o.message;
            done(o);
          },
          fail, drain_atom::value);
    };
    auto several = cfg.members.size() > 1;
    auto self_id = cfg.id;
    ask(*sys, nodes.raft, query_timeout,
        [=](const outcome&) {
          ask(*sys, nodes.raft, query_timeout,
              [=](const raft_status& rs) {
                if (rs.role != raft::role::leader || !several) {
                  wait_jobs("");
                  return;
                }
                // A node drained earlier refuses every SubmitJob, so it must not
                // inherit leadership: when another node drains, name a live one
                // that does not; otherwise Raft picks the most up-to-date follower.
                ask(*sys, nodes.tracker, query_timeout,
                    [=](const worker_list& wl) {
                      std::uint64_t target = 0;
                      bool other_draining = false;
                      for (const auto& w : wl.workers)
                        if (w.report.node_id != self_id && w.report.draining) other_draining = true;
                      for (const auto& w : wl.workers)
                        if (other_draining && target == 0 && w.report.node_id != self_id && w.alive &&
                            !w.report.draining)
                          target = w.report.node_id;
                      ask(*sys, nodes.raft, transfer_wait,
                          [=](const outcome& t) {
                            wait_jobs(t.ok() ? "leadership handed to node " + std::to_string(t.leader_id)
                                             : "could not hand leadership away: " + t.message);
                          },
                          fail, transfer_atom::value, target);
                    },
                    fail, workers_atom::value);
              },
              fail, status_atom::value);
        },
        fail, drain_atom::value, true);
  }

 private:
  milliseconds commit_wait() const { return milliseconds(cfg_.raft.commit_deadline_ms + 2000); }

  template <class Method, class Req, class Resp>
  void forward(std::uint64_t leader, Method method, const Req& req, Resp* resp, grpc::ServerUnaryReactor* r) {
    auto* stub = peers_->scheduler(leader);
    if (!stub) {
      r->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no channel to leader " + std::to_string(leader)));
      return;
    }
    struct call {
      grpc::ClientContext ctx;
      Req req;
    };
    auto c = std::make_shared<call>();
    c->req = req;
    c->ctx.AddMetadata(forwarded_key, "1");
    c->ctx.set_deadline(std::chrono::system_clock::now() + query_timeout);
    method(stub->async(), &c->ctx, &c->req, resp, [c, r, leader](grpc::Status s) {
      if (!s.ok())
        s = grpc::Status(s.error_code(), "forwarded to leader " + std::to_string(leader) + ": " + s.error_message());
      r->Finish(s);
    });
  }

  void fetch_output(std::uint64_t node, const std::string& id, scheduler::GetJobStatusResponse* resp,
                    grpc::ServerUnaryReactor* r) {
    auto fill = [resp](const internalpb::GetJobOutputResponse& o) {
      resp->set_output(o.stdout_data());
      resp->set_stderr(o.stderr_data());
      resp->set_output_truncated(o.truncated());
    };
    if (node == cfg_.id) {
      auto out = exec::read_output(cfg_.data_dir + "/outputs", id);
      if (out.found) {
        resp->set_output(out.stdout_data);
        resp->set_stderr(out.stderr_data);
        resp->set_output_truncated(out.truncated);
      }
      r->Finish(grpc::Status::OK);
      return;
    }
    auto* stub = peers_->internal(node);
    if (!stub) {
      r->Finish(grpc::Status::OK);  // the replicated (inline) output stays
      return;
    }
    struct call {
      grpc::ClientContext ctx;
      internalpb::GetJobOutputRequest req;
      internalpb::GetJobOutputResponse resp;
    };
    auto c = std::make_shared<call>();
    c->req.set_job_id(id);
    c->ctx.set_deadline(std::chrono::system_clock::now() + query_timeout);
    stub->async()->GetJobOutput(&c->ctx, &c->req, &c->resp, [c, r, fill](grpc::Status s) {
      if (s.ok() && c->resp.found()) fill(c->resp);
      r->Finish(grpc::Status::OK);
    });
  }

  caf::actor_system& sys_;
  config::node_config cfg_;
  node_handles nodes_;
  std::shared_ptr<const peer_clients> peers_;
};

struct running_server {
  std::unique_ptr<scheduler_service> scheduler;
  std::shared_ptr<void> peer_services;  // RaftService and InternalService (transport/)
  std::unique_ptr<grpc::Server> server;
  ~running_server() {
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
};

}  // namespace

std::shared_ptr<void> start_grpc_server(caf::actor_system& sys, const config::node_config& cfg,
                                        const node_handles& nodes, std::shared_ptr<const peer_clients> peers) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto rs = std::make_shared<running_server>();
  rs->scheduler = std::make_unique<scheduler_service>(sys, cfg, nodes, peers);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort(cfg.grpc_listen, grpc::InsecureServerCredentials(), &port);
  b.SetMaxReceiveMessageSize(max_message_bytes);
  b.SetMaxSendMessageSize(max_message_bytes);
  b.RegisterService(rs->scheduler.get());
  rs->peer_services = add_peer_services(b, sys, cfg, peer_inbox{nodes.raft, nodes.tracker, nodes.supervisor});
  b.experimental().SetInterceptorCreators(grpc_metrics_interceptors());
  rs->server = b.BuildAndStart();
  if (!rs->server || port == 0) throw std::runtime_error("cannot listen for gRPC on " + cfg.grpc_listen);
  return rs;
}

void drain_node(caf::actor_system& sys, const config::node_config& cfg, const node_handles& nodes,
                std::function<void(const outcome&)> done) {
  scheduler_service::drain(sys, cfg, nodes, std::move(done));
}

grpc_gateway_actor::behavior_type grpc_gateway(grpc_gateway_actor::stateful_pointer<grpc_gateway_state> self,
                                               std::shared_ptr<void> server, std::string listen) {
  self->state.server = std::move(server);
  self->state.listen = std::move(listen);
  TLOG(info, "grpc_gateway") << "serving SchedulerService, InternalService, RaftService, health and reflection on "
                             << self->state.listen;
  return {
      [=](status_atom) -> std::string { return "grpc on " + self->state.listen; },
  };
}

}  // namespace troupe
