#include "gateway/grpc_admission.hpp"

#include "gateway/grpc_errors.hpp"
#include "service/peer_calls.hpp"

namespace troupe {

std::optional<std::string_view> authorization(const grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(peer_calls::authorization_key);
  if (it == md.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

grpc::Status admit(grpc::CallbackServerContext* ctx, const access::gate& gate, access::operation op,
                   const google::protobuf::Message& req, const config::limits_options& limits) {
  auto who = gate.check(authorization(ctx), op);
  if (!who) return to_status(ctx, who.error());
  if (req.ByteSizeLong() > limits.client_message_bytes)
    return to_status(ctx, make_error(errc::resource_exhausted,
                                     "request of " + std::to_string(req.ByteSizeLong()) + " bytes exceeds the " +
                                         std::to_string(limits.client_message_bytes) +
                                         "-byte client message limit ([limits] client_message_bytes)"));
  return grpc::Status::OK;
}

}  // namespace troupe
