#include "gateway/grpc_errors.hpp"

namespace troupe {

grpc::StatusCode grpc_code(errc c) {
  switch (c) {
    case errc::not_leader: return grpc::StatusCode::FAILED_PRECONDITION;
    case errc::not_found: return grpc::StatusCode::NOT_FOUND;
    case errc::invalid_argument: return grpc::StatusCode::INVALID_ARGUMENT;
    case errc::failed_precondition: return grpc::StatusCode::FAILED_PRECONDITION;
    case errc::resource_exhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case errc::unavailable: return grpc::StatusCode::UNAVAILABLE;
    case errc::deadline_exceeded: return grpc::StatusCode::DEADLINE_EXCEEDED;
    case errc::internal: return grpc::StatusCode::INTERNAL;
    case errc::unauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case errc::permission_denied: return grpc::StatusCode::PERMISSION_DENIED;
  }
  return grpc::StatusCode::UNKNOWN;
}

grpc::Status to_status(grpc::ServerContextBase* ctx, const caf::error& e) {
  auto info = describe(e);
  if (info.code == errc::not_leader && info.leader_id != 0) {
    ctx->AddTrailingMetadata("leader-id", std::to_string(info.leader_id));
    ctx->AddTrailingMetadata("leader-address", info.leader_address);
  }
  return grpc::Status(grpc_code(info.code), info.message);
}

}  // namespace troupe
