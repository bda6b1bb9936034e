#include "gateway/admin_gateway.hpp"

#include "admin.grpc.pb.h"
#include "config/timeouts.hpp"
#include "gateway/grpc_unary.hpp"
#include "gateway/snapshot_stream.hpp"
#include "service/access.hpp"

namespace troupe {
namespace {

// A stream call refused before it starts (no or a too weak token).
class refused_snapshot final : public grpc::ServerWriteReactor<admin::SnapshotChunk> {
 public:
  explicit refused_snapshot(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

class admin_service final : public admin::AdminService::CallbackService {
 public:
  admin_service(caf::actor_system& sys, config::node_config cfg, node_service_actor service)
      : context_(sys, std::move(cfg), std::move(service)) {}

  // A follower answers "Not the leader" with the leader's address (the CLI
  // follows it); it does not relay the stream, which would cost the table's
  // size twice on the wire.
  grpc::ServerWriteReactor<admin::SnapshotChunk>* SaveSnapshot(grpc::CallbackServerContext* ctx,
                                                                const admin::SaveSnapshotRequest* req) override {
    auto refused = context_.admit(ctx, access::operation::save_snapshot, *req);
    if (!refused.ok()) return new refused_snapshot(refused);
    return make_snapshot_stream(context_.asker, context_.service, ctx, context_.cfg.id, config::snapshot_request_wait(context_.cfg));
  }

 private:
  grpc_unary::service_context context_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_admin_service(caf::actor_system& sys, const config::node_config& cfg,
                                                  node_service_actor service) {
  return std::make_unique<admin_service>(sys, cfg, std::move(service));
}

}  // namespace troupe
