// GET /api/events: committed job changes as server-sent events, fed by a
// change_listener actor subscribed through the node service; the
// connection's thread (gateway/http_server.hpp) drains its queue.
#pragma once

#include <atomic>
#include <memory>

#include <caf/actor_system.hpp>

#include "gateway/http_server.hpp"
#include "service/node_service.hpp"

namespace troupe {

// Frames one stream may hold for a client that reads slower than jobs change;
// past this the stream says "overflow" and ends, so a client that never reads
// costs at most this much (plus the socket buffers) until it is dropped.
inline constexpr std::size_t max_event_backlog_bytes = 1 << 20;

// Makes `res` the event stream. `open_streams` counts this stream from now
// until the response is gone (sent, failed or never started).
void serve_events(caf::actor_system& sys, node_service_actor service, http::response& res,
                  std::shared_ptr<std::atomic<int>> open_streams);

}  // namespace troupe
