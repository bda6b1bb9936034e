// What the parts of node_service share: its configuration and handles, and
// two small helpers every workflow step uses.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "service/node_service.hpp"

namespace troupe {

using ctx_ptr = std::shared_ptr<const node_service_init>;

// Runs `fn` inside the service actor after `delay` (polling steps of a workflow).
void after(node_service_actor::pointer self, std::chrono::milliseconds delay, std::function<void()> fn);

// The members of `rs`'s configuration (raft_status::conf, the replicated
// one) this node's job table holds drained (a failed query counts as not
// drained), then `then` inside the actor.
void drained_workers(node_service_actor::pointer self, const ctx_ptr& c, const raft_status& rs,
                     std::function<void(const std::set<std::uint64_t>&)> then);

// The ids of the replicated configuration in `rs`; the config file's members
// while there is none yet (a joining node).
std::vector<std::uint64_t> member_ids(const ctx_ptr& c, const raft_status& rs);

}  // namespace troupe
