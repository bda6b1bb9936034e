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
      : sys_(sys), cfg_(std::move(cfg)), service_(std::move(service)), gate_(cfg_.auth) {}

  // A follower answers "Not the leader" with the leader's address (the CLI
  // follows it); it does not relay the stream, which would cost the table's
  // size twice on the wire.
  grpc::ServerWriteReactor<admin::SnapshotChunk>* SaveSnapshot(grpc::CallbackServerContext* ctx,
                                                                const admin::SaveSnapshotRequest* req) override {
    auto refused = grpc_unary::admit(gate_, cfg_, ctx, access::operation::save_snapshot, *req);
    if (!refused.ok()) return new refused_snapshot(refused);
    return make_snapshot_stream(sys_, service_, ctx, cfg_.id, config::snapshot_request_wait(cfg_));
  }

 private:
  caf::actor_system& sys_;
  config::node_config cfg_;
  node_service_actor service_;
  access::gate gate_;  // one per service, from [[auth.tokens]], like SchedulerService's
};

}  // namespace

std::unique_ptr<grpc::Service> make_admin_service(caf::actor_system& sys, const config::node_config& cfg,
                                                  node_service_actor service) {
  return std::make_unique<admin_service>(sys, cfg, std::move(service));
}

}  // namespace troupe
