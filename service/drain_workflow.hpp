// DrainNode and UndrainNode. The drain is replicated: a committed
// set_worker_draining entry, kept in every node's job table (and snapshot),
// so every current and future leader stops placing jobs on the node.
//
// DrainNode: (a) get set_worker_draining(self, true) committed: proposed here
// when this node leads, otherwise by the leader on request (InternalService
// SetWorkerDraining), retried across a leader change within the commit wait;
// (b) wait until this node's table has applied that entry; (c) wait, at most
// config::drain_jobs_wait, until the table shows no job assigned to or
// running on this node; (d) if this node leads, hand leadership to the most
// up-to-date voter it reaches, a live, non-draining one if there is such;
// (e) answer.
#pragma once

#include <string>

#include "service/service_context.hpp"

namespace troupe {

void drain(node_service_actor::pointer self, const ctx_ptr& c, caf::typed_response_promise<drain_result> rp);
void undrain(node_service_actor::pointer self, const ctx_ptr& c, caf::typed_response_promise<std::string> rp);

// Step (d) alone, also taken by a leader that is stopping: calls `then` with
// whom leadership went to ("leadership handed to node N"), why it could not
// go (no other voter reachable, or the transfer failed), or "" when this node
// does not lead or has no other voter.
void hand_off(node_service_actor::pointer self, const ctx_ptr& c, std::function<void(std::string)> then);

}  // namespace troupe
