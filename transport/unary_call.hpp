// One unary InternalService call made for one requester. peer_transport
// delegates each request to a short-lived actor of this kind: gRPC completes
// the call on a thread of its own, and such a thread may only *send* to an
// actor (never touch its response promise), so the answer comes back to this
// actor as a message; it answers the original requester and exits.
#pragma once

#include <chrono>
#include <memory>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "protocol/messages.hpp"
#include "transport/grpc_status.hpp"
#include "transport/raft_stream.hpp"

namespace troupe::transport {

// What a call's answer carries back to its actor: the call's context and
// the actor's own handle, both of which hold the peer's channel. Released
// where the answer is handled, on a CAF thread, never on the gRPC thread
// that completed the call (transport/raft_stream.hpp: a channel released
// there aborts the process).
struct call_remains {
  std::shared_ptr<void> held;
};

}  // namespace troupe::transport

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::transport::call_remains)

namespace troupe::transport {

// A unary call (anything with a grpc::ClientContext `ctx`) and its place in
// `open` (peer_clients' count of what is still open on its channels,
// transport/raft_stream.hpp), with how to cancel it: a node that stops
// cancels it, and waits for every such place to be gone before it releases
// its channels. Whoever drops the last of these releases the call's context
// (which holds the channel) first, and only then its place: so never after
// the channels' owner stopped waiting.
template <class Call>
class counted_call {
 public:
  counted_call(std::shared_ptr<stream_count> open, std::shared_ptr<Call> c)
      : open_(std::move(open)), id_(open_->add([c] { c->ctx.TryCancel(); })), call_(std::move(c)) {}
  counted_call(const counted_call&) = delete;
  counted_call& operator=(const counted_call&) = delete;
  ~counted_call() {
    call_.reset();
    open_->remove(id_);  // the cancel's copy of the call goes here, before the count falls
  }
  Call* operator->() const { return call_.get(); }

 private:
  std::shared_ptr<stream_count> open_;
  std::uint64_t id_;
  std::shared_ptr<Call> call_;
};

template <class Reply>
using call_handle = caf::typed_actor<caf::replies_to<run_atom>::with<Reply>>;

// start(ctx, req, resp, on_done) issues the call (stub->async()->Method(...));
// decode(resp) makes the reply of an OK call; any other status becomes the
// matching errc (grpc_status.hpp).
// The call counts in `open` (counted_call) until its answer has been
// handled.
template <class Reply, class Resp, class Req, class Start, class Decode>
call_handle<Reply> spawn_call(caf::actor_system& sys, std::shared_ptr<stream_count> open,
                              std::chrono::milliseconds deadline, Req req, Start start, Decode decode) {
  struct call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
  };
  // Members are destroyed in reverse order: `me` (its actor holds the stub,
  // and with it the channel) goes first; then `c` releases the call and its count.
  struct completion {
    completion(std::shared_ptr<stream_count> n, std::shared_ptr<call> x, caf::actor a)
        : c(std::move(n), std::move(x)), me(std::move(a)) {}
    counted_call<call> c;
    caf::actor me;
  };
  auto fn = [=](caf::event_based_actor* self) -> caf::behavior {
    auto promise = std::make_shared<caf::typed_response_promise<Reply>>();
    return {
        [=](run_atom) -> caf::result<Reply> {
          *promise = self->make_response_promise<Reply>();
          auto c = std::make_shared<call>();
          c->req = req;
          c->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
          auto done = std::make_shared<completion>(open, c, caf::actor_cast<caf::actor>(self));
          start(&c->ctx, &c->req, &c->resp, [done, decode](grpc::Status s) {
            if (s.ok())
              caf::anon_send(done->me, done_atom::value, decode(done->c->resp), call_remains{done});
            else
              caf::anon_send(done->me, done_atom::value, from_status(s, done->c->ctx), call_remains{done});
          });
          return *promise;
        },
        [=](done_atom, Reply& r, call_remains&) {
          promise->deliver(std::move(r));
          self->quit();
        },
        [=](done_atom, caf::error& e, call_remains&) {
          promise->deliver(std::move(e));
          self->quit();
        },
    };
  };
  return caf::actor_cast<call_handle<Reply>>(sys.spawn(fn));
}

}  // namespace troupe::transport
