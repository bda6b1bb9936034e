// Calls the service makes to other nodes over gRPC, each finishing inside the
// service actor: the gRPC callback only posts the continuation back to the
// actor (forward_atom), so no actor state or response promise is touched
// from a gRPC thread. forward_to_leader() is the one place a node hands a
// client operation to the leader.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <grpcpp/grpcpp.h>

#include "transport/peer_clients.hpp"
#include "transport/unary_call.hpp"
#include "protocol/errors.hpp"
#include "service/node_service.hpp"

namespace troupe::peer_calls {

// Marks a SchedulerService call one node forwarded to the leader; the leader
// answers it from its own state and never forwards it again.
inline constexpr char forwarded_key[] = "x-troupe-forwarded";

// The client's "Bearer <token>" (gRPC metadata keys are lowercase). A
// forwarded call carries the client's own value, so the leader checks the
// client's rights itself instead of trusting the forwarding node.
inline constexpr char authorization_key[] = "authorization";

// A failed call to another node as a typed error: its status code mapped back
// to errc, "Not the leader" (with leader-id / leader-address trailing
// metadata) back to not_leader, and transport failures named after `node`.
caf::error from_status(const grpc::Status& s, const grpc::ClientContext& ctx, std::uint64_t node);

// Runs an async unary call (`start(ctx, done)` issues it) and then
// `done(status, ctx)` inside the service actor. A non-empty `authorization`
// is sent as the authorization metadata. The call counts in `open`
// (peer_clients' count, transport/unary_call.hpp's counted_call) until its
// context is released: a stopping node cancels it and releases its channels
// only after it.
template <class Start>
void call(node_service_actor::pointer self, std::shared_ptr<transport::stream_count> open,
          std::chrono::milliseconds deadline, bool forwarded, const std::string& authorization, Start start,
          std::function<void(const grpc::Status&, const grpc::ClientContext&)> done) {
  struct pending {
    grpc::ClientContext ctx;
    grpc::Status status;
  };
  auto p = std::make_shared<pending>();
  if (forwarded) p->ctx.AddMetadata(forwarded_key, "1");
  if (!authorization.empty()) p->ctx.AddMetadata(authorization_key, authorization);
  p->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto h = std::make_shared<transport::counted_call<pending>>(std::move(open), p);
  auto me = caf::actor_cast<node_service_actor>(self);
  start(&p->ctx, [h, me, done](grpc::Status s) {
    (*h)->status = std::move(s);
    caf::anon_send(me, forward_atom::value,
                   std::make_shared<std::function<void()>>([h, done] { done((*h)->status, (*h)->ctx); }));
  });
}

// Given a not_leader error naming a leader, runs the same SchedulerService
// call on that leader, with the client's `authorization` (empty: none), and
// delivers `convert(response)` or the leader's error. Without a named,
// reachable leader the not_leader error itself is delivered.
// `invoke(async_stub, ctx, req, resp, callback)` names the method.
template <class Result, class Req, class Resp, class Invoke, class Convert>
void forward_to_leader(node_service_actor::pointer self, const peer_clients& peers, const caf::error& not_leader,
                       std::chrono::milliseconds deadline, const std::string& authorization, Req req, Invoke invoke,
                       Convert convert, caf::typed_response_promise<Result> rp) {
  auto leader = describe(not_leader).leader_id;
  auto stub = leader ? peers.scheduler(leader) : nullptr;  // shared: stays valid across a membership sync
  if (!stub) {
    rp.deliver(not_leader);
    return;
  }
  auto q = std::make_shared<Req>(std::move(req));
  auto r = std::make_shared<Resp>();
  call(
      self, peers.streams(), deadline, true, authorization,
      [=](grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        invoke(stub->async(), ctx, q.get(), r.get(), std::move(cb));
      },
      [=](const grpc::Status& s, const grpc::ClientContext& ctx) mutable {
        if (s.ok())
          rp.deliver(convert(*r));
        else
          rp.deliver(from_status(s, ctx, leader));
      });
}

}  // namespace troupe::peer_calls
