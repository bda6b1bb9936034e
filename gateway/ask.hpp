// ask(): send a request to an actor from a thread that is not an actor (a
// gRPC callback or an HTTP handler) and continue when the answer arrives,
// without parking the thread: a short-lived actor makes the request and runs
// the continuation. Costs one spawn plus one message round trip (~µs).
#pragma once

#include <chrono>
#include <functional>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

namespace troupe {

template <class Handle, class OnReply, class... Ts>
void ask(caf::actor_system& sys, const Handle& target, std::chrono::milliseconds timeout, OnReply on_reply,
         std::function<void(const caf::error&)> on_error, Ts... xs) {
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(target, timeout, xs...).then(on_reply, [=](caf::error& e) { on_error(e); });
  });
}

}  // namespace troupe
