// The node bootstrap: recovers storage, chooses the executor backend, spawns
// the actor tree, logs its topology, and runs until SIGINT/SIGTERM or until a
// core actor dies (fail-stop: a node that lost its log or its Raft loop must
// not linger half-alive).
#pragma once

#include "config/node_config.hpp"

namespace troupe {

// Returns the process exit code.
int run_node(const config::node_config& cfg);

}  // namespace troupe
