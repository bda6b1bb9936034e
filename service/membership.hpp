// MembershipService's operations in the service layer: one message to
// raft_node each, its typed answer or errc passed up unchanged (the gateways
// map errc in their one table). Changes are the leader's: a follower's
// raft_node answers not_leader with the leader's address and the client
// follows it, as for SubmitJob, so a change is asked of raft_node exactly once.
// Before it, the heartbeat tracker says whether every live member's build
// reads configuration entries (protocol/feature_level.hpp): not during a
// rolling upgrade from a build that does not.
#pragma once

#include "service/service_context.hpp"

namespace troupe {

// add / remove, answered once the configuration entry commits.
caf::result<member_result> change_members(node_service_actor::pointer self, const ctx_ptr& c, member_change change);

// This node's raft status (its configuration, conf_index, conf_committed,
// leader). Unless `local`, a node that is not the leader answers not_leader,
// so that ListMembers shows the configuration the leader is acting on.
caf::result<raft_status> list_members(node_service_actor::pointer self, const ctx_ptr& c, bool local);

}  // namespace troupe
