// SaveSnapshot, the service's part: a consistent image of the job table,
// from the leader only. Consistent means linearizable: the image is the
// table as applied at an index at least the commit index when the request
// arrived, so every job whose submit was acknowledged before it is in it.
// The ReadIndex path gives that (the same one GetJobStatus --linearizable
// uses); the table then serializes itself once, as it does for compaction.
#pragma once

#include <caf/typed_response_promise.hpp>

#include "service/service_context.hpp"

namespace troupe {

// Answers the image, or not_leader (with the leader's id and address, from
// raft_node), deadline_exceeded when leadership could not be confirmed in
// time, unavailable / internal as the actors beneath answer.
void save_snapshot(node_service_actor::pointer self, const ctx_ptr& c, caf::typed_response_promise<table_image> rp);

}  // namespace troupe
