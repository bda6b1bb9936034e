// SaveSnapshot, the service's part: a consistent image of the job table,
// from the leader only. Consistent means linearizable: the image is the
// table as applied at an index at least the commit index when the request
// arrived, so every job whose submit was acknowledged before it is in it.
// The ReadIndex path gives that (the same one GetJobStatus --linearizable
// uses); a backup_taker then takes the table's image a piece at a time into
// a spool file, as a compaction takes it into the snapshot file.
#pragma once

#include <caf/typed_response_promise.hpp>

#include "service/service_context.hpp"

namespace troupe {

// Answers the image, or not_leader (with the leader's id and address, from
// raft_node), deadline_exceeded when leadership could not be confirmed in
// time, unavailable / internal as the actors beneath answer.
void save_snapshot(node_service_actor::pointer self, const ctx_ptr& c, caf::typed_response_promise<table_image> rp);

}  // namespace troupe
