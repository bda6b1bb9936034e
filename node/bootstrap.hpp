// The node bootstrap, the composition root above every layer: recovers
// storage, chooses the executor backend, spawns the actor tree (node/actor_tree),
// starts the transport's and the gateways' servers, logs the topology, and
// runs until SIGINT/SIGTERM or until a core actor dies (fail-stop: a node that
// lost its log or its Raft loop must not linger half-alive). Then it stops the
// gateways, stops the running jobs unreported (bounded wait), stops the core
// actors and returns, with the actor system waiting for every actor.
#pragma once

#include "config/node_config.hpp"

namespace troupe {

// Returns the process exit code.
int run_node(const config::node_config& cfg);

}  // namespace troupe
