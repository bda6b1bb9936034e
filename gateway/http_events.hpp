// GET /api/events: committed job changes as server-sent events, fed by a
// change_listener actor subscribed through the node service; the httplib
// worker thread drains its queue.
#pragma once

#include <atomic>
#include <memory>

#include <caf/actor_system.hpp>

#include "service/node_service.hpp"

namespace httplib {
struct Response;
}

namespace troupe {

// Sets up the event stream on `res`. `stopping` ends it on server shutdown;
// `open_streams` is decremented when it ends.
void serve_events(caf::actor_system& sys, node_service_actor service, httplib::Response& res,
                  std::shared_ptr<std::atomic<bool>> stopping, std::shared_ptr<std::atomic<int>> open_streams);

}  // namespace troupe
