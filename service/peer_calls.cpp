#include "service/peer_calls.hpp"

namespace troupe::peer_calls {
namespace {

std::string trailer(const grpc::ClientContext& ctx, const char* key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

caf::error from_status(const grpc::Status& s, const grpc::ClientContext& ctx, std::uint64_t node) {
  const auto& msg = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::FAILED_PRECONDITION:
      if (msg.rfind("Not the leader", 0) == 0) {
        auto id = trailer(ctx, "leader-id");
        std::uint64_t leader = 0;
        if (!id.empty() && id.find_first_not_of("0123456789") == std::string::npos && id.size() < 20)
          leader = std::stoull(id);
        return not_leader_error(leader, trailer(ctx, "leader-address"));
      }
      return make_error(errc::failed_precondition, msg);
    case grpc::StatusCode::INVALID_ARGUMENT: return make_error(errc::invalid_argument, msg);
    // The leader checked the client's forwarded token itself.
    case grpc::StatusCode::UNAUTHENTICATED: return make_error(errc::unauthenticated, msg);
    case grpc::StatusCode::PERMISSION_DENIED: return make_error(errc::permission_denied, msg);
    case grpc::StatusCode::NOT_FOUND: return make_error(errc::not_found, msg);
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return make_error(errc::resource_exhausted, msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return make_error(errc::deadline_exceeded, "node " + std::to_string(node) + ": " + msg);
    // CANCELLED: this node, stopping, cancelled the call (or the leader,
    // stopping, cut it); whether it took effect there is unknown, as when
    // the leader is unreachable, and another node may take the retry.
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNAVAILABLE:
      return make_error(errc::unavailable, "node " + std::to_string(node) + ": " + msg);
    default: return make_error(errc::internal, "node " + std::to_string(node) + ": " + msg);
  }
}

}  // namespace troupe::peer_calls
