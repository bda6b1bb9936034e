// What raft_node decides about membership changes, apart from the actor:
// the configuration with every address filled in, and the configuration a
// requested change leads to (or the typed error refusing it).
#pragma once

#include <caf/expected.hpp>

#include "config/node_config.hpp"
#include "protocol/messages.hpp"
#include "runtime/raft/membership.hpp"

namespace troupe {

// The seed members of a first start carry no addresses in the Raft
// configuration (the core only knows their ids): take them from the config.
// Their wire addresses stay out (see raft_membership.cpp).
raft::membership with_addresses(const raft::membership& conf, const config::node_config& cfg);

// The configuration after `change`, one server at a time: add makes a
// learner (the core promotes it once caught up); remove drops a voter or a
// learner. Errors: invalid_argument (bad id or address, the last voter),
// failed_precondition (already a member), not_found (no such member). A new
// wire address may be no member's wire (replicated, else in `cfg`) or gRPC
// address.
caf::expected<raft::membership> plan_change(const raft::membership& conf, const member_change& change,
                                            const config::node_config& cfg);

// The address of a member for not-the-leader hints: the replicated
// configuration's, else the config file's (a seed member).
std::string member_address(const raft::membership& conf, const config::node_config& cfg, std::uint64_t id);

}  // namespace troupe
