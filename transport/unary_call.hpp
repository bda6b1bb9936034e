// One unary InternalService call made for one requester. peer_transport
// delegates each request to a short-lived actor of this kind: gRPC completes
// the call on a thread of its own, and such a thread may only *send* to an
// actor (never touch its response promise), so the answer comes back to this
// actor as a message; it answers the original requester and exits.
// It is linked to the actor that spawned it (peer_transport): when that one
// stops with its node, the call is cancelled instead of holding the actor
// system's exit until its deadline (up to a commit wait for a report the
// leader cannot commit any more).
#pragma once

#include <chrono>
#include <memory>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/spawn_options.hpp>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "protocol/messages.hpp"
#include "transport/grpc_status.hpp"

namespace troupe::transport {

template <class Reply>
using call_handle = caf::typed_actor<caf::replies_to<run_atom>::with<Reply>>;

// start(ctx, req, resp, on_done) issues the call (stub->async()->Method(...));
// decode(resp) makes the reply of an OK call; any other status becomes the
// matching errc (grpc_status.hpp).
template <class Reply, class Resp, class Req, class Owner, class Start, class Decode>
call_handle<Reply> spawn_call(Owner* owner, std::chrono::milliseconds deadline, Req req, Start start, Decode decode) {
  struct call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
  };
  auto fn = [=](caf::event_based_actor* self) -> caf::behavior {
    auto promise = std::make_shared<caf::typed_response_promise<Reply>>();
    return {
        [=](run_atom) -> caf::result<Reply> {
          *promise = self->make_response_promise<Reply>();
          auto c = std::make_shared<call>();
          c->req = req;
          c->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
          self->attach_functor([c] { c->ctx.TryCancel(); });  // a no-op once the call completed
          auto me = caf::actor_cast<caf::actor>(self);
          start(&c->ctx, &c->req, &c->resp, [c, me, decode](grpc::Status s) {
            if (s.ok())
              caf::anon_send(me, done_atom::value, decode(c->resp));
            else
              caf::anon_send(me, done_atom::value, from_status(s, c->ctx));
          });
          return *promise;
        },
        [=](done_atom, Reply& r) {
          promise->deliver(std::move(r));
          self->quit();
        },
        [=](done_atom, caf::error& e) {
          promise->deliver(std::move(e));
          self->quit();
        },
    };
  };
  return caf::actor_cast<call_handle<Reply>>(owner->template spawn<caf::linked>(fn));
}

}  // namespace troupe::transport
