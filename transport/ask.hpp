// ask(): send a request to an actor from a thread that is not an actor (a
// gRPC callback) and continue when the answer arrives, without parking the
// thread. The request is made by an `asker`, one long-lived actor per
// service that makes any number of requests at once and runs each
// continuation when its answer arrives. A short-lived actor per call did the
// same at the price of a spawn and an exit per request.
#pragma once

#include <chrono>
#include <functional>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

namespace troupe {

// One request to make, as a closure run inside the asker.
struct ask_job {
  std::function<void(caf::event_based_actor*)> run;
};

}  // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::ask_job)

namespace troupe {

// The asker exits with its owner (the destructor), so it never holds up the
// actor system's shutdown; requests still open then answer with an error.
class asker {
 public:
  explicit asker(caf::actor_system& sys)
      : self_(sys.spawn<caf::hidden>([](caf::event_based_actor* self) -> caf::behavior {
          return {[self](ask_job& job) { job.run(self); }};
        })) {}
  asker(const asker&) = delete;
  asker& operator=(const asker&) = delete;
  ~asker() { caf::anon_send_exit(self_, caf::exit_reason::user_shutdown); }

  template <class Handle, class OnReply, class... Ts>
  void ask(const Handle& target, std::chrono::milliseconds timeout, OnReply on_reply,
           std::function<void(const caf::error&)> on_error, Ts... xs) const {
    caf::anon_send(self_, ask_job{[=](caf::event_based_actor* self) {
                     self->request(target, timeout, xs...).then(on_reply, [=](caf::error& e) { on_error(e); });
                   }});
  }

 private:
  caf::actor self_;
};

}  // namespace troupe
