#include "gateway/grpc_gateway.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "config/timeouts.hpp"
#include "gateway/admin_gateway.hpp"
#include "gateway/grpc_errors.hpp"
#include "gateway/grpc_metrics.hpp"
#include "gateway/grpc_unary.hpp"
#include "gateway/job_stream.hpp"
#include "gateway/membership_gateway.hpp"
#include "gateway/views.hpp"
#include "transport/peer_listener.hpp"
#include "transport/peer_services.hpp"
#include "transport/server_stop.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/utf8.hpp"
#include "runtime/common/wall_clock.hpp"
#include "scheduler.grpc.pb.h"
#include "service/access.hpp"
#include "service/peer_calls.hpp"
#include "transport/ask.hpp"
#include "transport/tls_files.hpp"

namespace troupe {
namespace {

bool is_forwarded(grpc::CallbackServerContext* ctx) {
  return ctx->client_metadata().count(peer_calls::forwarded_key) > 0;
}

using grpc_unary::authorization;

// A StreamJobs call refused before it starts (no or a too weak token).
class refused_stream final : public grpc::ServerWriteReactor<scheduler::JobInfo> {
 public:
  explicit refused_stream(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

class scheduler_service final : public scheduler::SchedulerService::CallbackService {
 public:
  scheduler_service(caf::actor_system& sys, config::node_config cfg, node_service_actor service)
      : context_(sys, std::move(cfg), std::move(service)) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* ctx, const scheduler::SubmitJobRequest* req,
                                      scheduler::SubmitJobResponse* resp) override {
    submit_request s;
    s.command = req->command();
    s.image = req->has_image() ? req->image() : std::string();
    s.timeout_s = req->timeout_s();
    // A follower answers "Not the leader" (the spec's redirect), never forwards.
    return context_.call<proposal_result>(
        ctx, access::operation::submit_job, *req, config::write_wait(context_.cfg),
        [=](const proposal_result& r) {
          resp->set_job_id(r.job_id);
          resp->set_created_at_ms(ns_to_ms(r.created_at_ns));
        },
        submit_atom::value, s);
  }

  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* ctx, const scheduler::CancelJobRequest* req,
                                      scheduler::CancelJobResponse* resp) override {
    auto id = req->job_id();
    return context_.call<std::uint64_t>(
        ctx, access::operation::cancel_job, *req, config::write_wait(context_.cfg),
        [=](std::uint64_t) {
          resp->set_success(true);
          resp->set_message("job " + id + " cancelled");
        },
        cancel_atom::value, id, false, forwardable_authorization(ctx));
  }

  grpc::ServerUnaryReactor* GetJobStatus(grpc::CallbackServerContext* ctx, const scheduler::GetJobStatusRequest* req,
                                         scheduler::GetJobStatusResponse* resp) override {
    return context_.call<job_detail>(ctx, access::operation::get_job, *req, config::write_wait(context_.cfg),
                            [=](const job_detail& d) {
      views::to_job_status(d.job, resp);
      if (d.output.found) {
        resp->set_output(utf8::valid(d.output.stdout_data));  // proto string: valid UTF-8 (issue 11)
        resp->set_stderr(utf8::valid(d.output.stderr_data));
        resp->set_output_truncated(d.output.truncated);
      }
    }, get_atom::value, req->job_id(), req->linearizable());
  }

  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx, const scheduler::ListJobsRequest* req,
                                     scheduler::ListJobsResponse* resp) override {
    return context_.call<jobs::list_result>(
        ctx, access::operation::list_jobs, *req, config::outer(config::query_timeout),
        [=](const jobs::list_result& l) {
          for (const auto& j : l.jobs) views::to_job_info(j, resp->add_jobs());
          resp->set_next_page_token(l.next_page_token);
          resp->set_total_count(l.total_count);
        },
        list_atom::value, views::to_list_query(*req));
  }

  grpc::ServerWriteReactor<scheduler::JobInfo>* StreamJobs(grpc::CallbackServerContext* ctx,
                                                            const scheduler::StreamJobsRequest* req) override {
    auto refused = context_.admit(ctx, access::operation::stream_jobs, *req);
    if (!refused.ok()) return new refused_stream(refused);
    return make_job_stream(context_.sys, context_.service, req->status_filter(), context_.cfg.limits);
  }

  grpc::ServerUnaryReactor* GetClusterStatus(grpc::CallbackServerContext* ctx,
                                             const scheduler::GetClusterStatusRequest* req,
                                             scheduler::GetClusterStatusResponse* resp) override {
    using answer = scheduler::GetClusterStatusResponse;
    // A follower forwards this to the leader with the client's token, which
    // the leader checks again (service/peer_calls.hpp).
    return context_.call<answer>(
        ctx, access::operation::cluster, *req, config::forwarded_query_wait(), [=](const answer& r) { *resp = r; },
        cluster_atom::value, is_forwarded(ctx), forwardable_authorization(ctx));
  }

  grpc::ServerUnaryReactor* GetRaftLogEntries(grpc::CallbackServerContext* ctx,
                                              const scheduler::GetRaftLogEntriesRequest* req,
                                              scheduler::GetRaftLogEntriesResponse* resp) override {
    using answer = scheduler::GetRaftLogEntriesResponse;
    return context_.call<answer>(
        ctx, access::operation::raft_log, *req, config::forwarded_query_wait(), [=](const answer& r) { *resp = r; },
        log_atom::value, std::uint64_t{req->start_index()}, std::uint32_t{req->limit()}, is_forwarded(ctx),
        forwardable_authorization(ctx));
  }

  grpc::ServerUnaryReactor* TransferLeadership(grpc::CallbackServerContext* ctx,
                                               const scheduler::TransferLeadershipRequest* req,
                                               scheduler::TransferLeadershipResponse* resp) override {
    return context_.call<std::uint64_t>(
        ctx, access::operation::transfer_leadership, *req, config::transfer_request_wait(context_.cfg),
        [=](std::uint64_t leader) {
          resp->set_success(true);
          resp->set_new_leader_id(leader);
          resp->set_message("node " + std::to_string(leader) + " is now the leader");
        },
        transfer_atom::value, std::uint64_t{req->target_node_id()}, false,
        forwardable_authorization(ctx));
  }

  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* ctx, const scheduler::DrainNodeRequest* req,
                                      scheduler::DrainNodeResponse* resp) override {
    return context_.call<drain_result>(
        ctx, access::operation::drain_node, *req, config::outer(config::drain_wait(context_.cfg)),
        [=](const drain_result& d) {
          // Timing out on the node's jobs still drains it: new jobs go elsewhere.
          resp->set_success(true);
          resp->set_timed_out(d.timed_out);
          resp->set_message(d.message);
        },
        drain_atom::value);
  }

  grpc::ServerUnaryReactor* UndrainNode(grpc::CallbackServerContext* ctx, const scheduler::UndrainNodeRequest* req,
                                        scheduler::UndrainNodeResponse* resp) override {
    return context_.call<std::string>(
        ctx, access::operation::undrain_node, *req, config::outer(config::drain_entry_wait(context_.cfg)),
        [=](const std::string& message) {
          resp->set_success(true);
          resp->set_message(message);
        },
        undrain_atom::value);
  }

 private:
  // The client's authorization, for a call the node service may forward to
  // the leader: the leader checks it again rather than trusting this node.
  static std::string forwardable_authorization(const grpc::CallbackServerContext* ctx) {
    auto a = authorization(ctx);
    return a ? std::string(*a) : std::string();
  }

  grpc_unary::service_context context_;
};

// With [tls] the listener speaks TLS only. Client certificates are requested
// and, when sent, verified against ca_file (a certificate from another CA
// fails the handshake); they are not required, since clients reach
// SchedulerService with a token alone. RaftService and InternalService
// require a node certificate per call (transport/peer_identity.hpp).
std::shared_ptr<grpc::ServerCredentials> server_credentials(const config::node_config& cfg) {
  if (!cfg.tls.enabled()) return grpc::InsecureServerCredentials();
  auto files = transport::load_tls_files(cfg.tls);
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = files.ca_pem;
  o.pem_key_cert_pairs.push_back({files.key_pem, files.cert_pem});
  return grpc::SslServerCredentials(o);
}

}  // namespace

struct grpc_server {
  std::unique_ptr<grpc::Service> scheduler;
  std::unique_ptr<grpc::Service> admin;
  std::unique_ptr<grpc::Service> membership;  // MembershipService (gateway/membership_gateway)
  std::shared_ptr<troupe::peer_services> peer_services;  // RaftService and InternalService (transport/)
  transport::server_stop stopping;
  std::unique_ptr<grpc::Server> server;
  // The raft wire's listener ([listen] wire), beside RaftService: the other
  // way peers' appends come in.
  std::unique_ptr<transport::peer_listener> wire;
  ~grpc_server() {
    if (peer_services) stop_inbound_streams(*peer_services);
    if (wire) wire->stop();
    if (server) stopping.stop(*server, config::hop_margin);
  }
};

std::shared_ptr<grpc_server> start_grpc_server(caf::actor_system& sys, const config::node_config& cfg,
                                               node_service_actor service, peer_inbox inbox,
                                               std::shared_ptr<const transport::member_directory> members) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto rs = std::make_shared<grpc_server>();
  rs->scheduler = std::make_unique<scheduler_service>(sys, cfg, service);
  rs->membership = make_membership_service(sys, cfg, service);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort(cfg.grpc_listen, server_credentials(cfg), &port);
  // Without this gRPC binds with SO_REUSEPORT, and a second node started on
  // the same port would start "fine" and share (steal) half the connections.
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // One server has one receive cap, and peers share it: snapshot chunks and
  // append batches need max_message_bytes. Client requests are held to
  // [limits] client_message_bytes per call in admit() instead (they are tiny:
  // a command is at most 1 KiB), so a client cannot make a node keep more than
  // the peer cap in memory per call and gets RESOURCE_EXHAUSTED above its own.
  b.SetMaxReceiveMessageSize(max_message_bytes);
  b.SetMaxSendMessageSize(max_message_bytes);
  b.RegisterService(rs->scheduler.get());
  rs->admin = make_admin_service(sys, cfg, service);
  b.RegisterService(rs->admin.get());
  b.RegisterService(rs->membership.get());
  if (!cfg.wire_listen.empty())  // bound before gRPC, so that a taken port stops the start
    rs->wire = std::make_unique<transport::peer_listener>(cfg, inbox.raft, transport::peer_rules::from(cfg, members));
  rs->peer_services = add_peer_services(b, sys, cfg, std::move(inbox), std::move(members));
  auto interceptors = grpc_metrics_interceptors();
  interceptors.push_back(rs->stopping.call_counter());
  b.experimental().SetInterceptorCreators(std::move(interceptors));
  rs->server = b.BuildAndStart();
  if (!rs->server || port == 0) throw std::runtime_error("cannot listen for gRPC on " + cfg.grpc_listen);
  if (rs->wire) rs->wire->start();
  TLOG(info, "grpc_gateway") << "serving SchedulerService, AdminService, MembershipService, InternalService, RaftService, health and reflection on "
                             << cfg.grpc_listen << (cfg.tls.enabled() ? " (TLS; peers need a node certificate)" : "")
                             << (cfg.auth.enabled() ? "; clients need a token" : "")
                             << (rs->wire ? "; the raft wire on " + cfg.wire_listen : std::string());
  return rs;
}

}  // namespace troupe
