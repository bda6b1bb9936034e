// Start-up checks of how the node meets the network (issue 11): the [tls]
// files must be readable PEM, and a node listening beyond loopback without
// TLS and tokens says loudly what that exposes.
#pragma once

#include <string>
#include <vector>

#include "config/node_config.hpp"

namespace troupe {

// Whether `listen` ("host:port") accepts connections from loopback only.
bool loopback_only(const std::string& listen);

// Logs the [tls] file problem and returns false when a file is unusable (the
// node must not start); logs one warn line per exposed listener when a
// listen host is not loopback and [tls] or [[auth.tokens]] is missing.
bool check_edge_security(const config::node_config& cfg);

// The warnings above, one per exposed listener (also printed by --check-config).
std::vector<std::string> exposure_warnings(const config::node_config& cfg);

}  // namespace troupe
