// What every client-facing gRPC method (SchedulerService, AdminService, MembershipService)
// does first and last: admit the call (the caller's token must allow the
// operation, and the request must fit the client message cap: the server's
// own receive cap is the peers' larger one, see start_grpc_server), then ask
// the node service once and finish with its answer or the errc table's
// status (grpc_errors.cpp).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <caf/actor_system.hpp>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "gateway/grpc_errors.hpp"
#include "service/access.hpp"
#include "service/node_service.hpp"
#include "service/peer_calls.hpp"
#include "transport/ask.hpp"

namespace troupe::grpc_unary {

// The raw "authorization" metadata value, if the client sent one.
inline std::optional<std::string_view> authorization(const grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(peer_calls::authorization_key);
  if (it == md.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

inline grpc::Status admit(const access::gate& gate, const config::node_config& cfg, grpc::CallbackServerContext* ctx,
                          access::operation op, const google::protobuf::Message& req) {
  auto who = gate.check(authorization(ctx), op);
  if (!who) return to_status(ctx, who.error());
  if (req.ByteSizeLong() > cfg.limits.client_message_bytes)
    return to_status(ctx, make_error(errc::resource_exhausted,
                                     "request of " + std::to_string(req.ByteSizeLong()) + " bytes exceeds the " +
                                         std::to_string(cfg.limits.client_message_bytes) +
                                         "-byte client message limit ([limits] client_message_bytes)"));
  return grpc::Status::OK;
}

// Admits the call, then asks `service` with `xs`; `fill` writes its answer
// into the response, an error becomes the status of the errc table.
template <class Answer, class Fill, class... Ts>
grpc::ServerUnaryReactor* call(const asker& asker, const node_service_actor& service, const access::gate& gate,
                               const config::node_config& cfg, grpc::CallbackServerContext* ctx, access::operation op,
                               const google::protobuf::Message& req, std::chrono::milliseconds wait, Fill fill,
                               Ts... xs) {
  auto* r = ctx->DefaultReactor();
  auto refused = admit(gate, cfg, ctx, op, req);
  if (!refused.ok()) {
    r->Finish(refused);
    return r;
  }
  asker.ask(
      service, wait,
      [=](const Answer& answer) {
        fill(answer);
        r->Finish(grpc::Status::OK);
      },
      [=](const caf::error& e) { r->Finish(to_status(ctx, e)); }, xs...);
  return r;
}

// What each client-facing service holds (one per service): the node's
// actor system, config, node service, token gate and asker, so that
// admitting and asking are written once here, not once per service.
struct service_context {
  service_context(caf::actor_system& s, config::node_config c, node_service_actor svc)
      : sys(s), cfg(std::move(c)), service(std::move(svc)), gate(cfg.auth), asker(s) {}

  grpc::Status admit(grpc::CallbackServerContext* ctx, access::operation op,
                     const google::protobuf::Message& req) const {
    return grpc_unary::admit(gate, cfg, ctx, op, req);
  }
  template <class Answer, class Fill, class... Ts>
  grpc::ServerUnaryReactor* call(grpc::CallbackServerContext* ctx, access::operation op,
                                 const google::protobuf::Message& req, std::chrono::milliseconds wait, Fill fill,
                                 Ts... xs) {
    return grpc_unary::call<Answer>(asker, service, gate, cfg, ctx, op, req, wait, fill, xs...);
  }

  caf::actor_system& sys;
  config::node_config cfg;
  node_service_actor service;
  access::gate gate;  // from [[auth.tokens]]
  troupe::asker asker;
};

}  // namespace troupe::grpc_unary
