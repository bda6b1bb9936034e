#include "actors/raft_membership.hpp"

#include "config/host_port.hpp"
#include "protocol/errors.hpp"

namespace troupe {

raft::membership with_addresses(const raft::membership& conf, const config::node_config& cfg) {
  raft::membership out = conf;
  for (raft::member m : conf.members()) {
    const auto* seed = cfg.find_member(m.id);
    if (!seed) continue;
    if (m.address.empty()) m.address = seed->address;
    if (m.http_address.empty()) m.http_address = seed->http_address;
    // Not the wire address: a configuration that carries one is written in
    // a newer encoding (feature level 5), so only `member add --wire` puts
    // one in. The transport falls back to [[members]] by itself.
    out.put(std::move(m));
  }
  return out;
}

caf::expected<raft::membership> plan_change(const raft::membership& conf, const member_change& change,
                                            const config::node_config& cfg) {
  const std::string node = "node " + std::to_string(change.id);
  if (change.id == raft::no_node) return make_error(errc::invalid_argument, "node id must be non-zero");
  raft::membership next = conf;
  if (change.kind == member_change::op::add) {
    if (const auto* m = conf.find(change.id))
      return make_error(errc::failed_precondition,
                        node + " is already a member (" + (m->voter ? "voter" : "learner") + ")");
    for (const std::string* a : {&change.address, &change.http_address, &change.wire_address}) {
      if (a->empty() && a != &change.address) continue;  // the REST and wire addresses are optional
      try {
        auto hp = config::split_host_port(*a);
        if (config::is_wildcard_host(hp.first))
          return make_error(errc::invalid_argument, "address \"" + *a + "\": a wildcard host cannot be dialed");
      } catch (const std::exception& e) {
        return make_error(errc::invalid_argument, "address \"" + *a + "\": " + e.what());
      }
    }
    if (!change.wire_address.empty() && change.wire_address == change.address)
      return make_error(errc::invalid_argument, "the wire address " + change.wire_address +
                                                    " is the gRPC address; the raft wire needs a port of its own");
    for (const auto& m : conf.members()) {
      if (m.address == change.address)
        return make_error(errc::invalid_argument, "address " + change.address + " is already node " +
                                                      std::to_string(m.id) + "'s");
      const auto* seed = cfg.find_member(m.id);
      const std::string& wire = m.wire_address.empty() && seed ? seed->wire_address : m.wire_address;
      if (!change.wire_address.empty() && (wire == change.wire_address || m.address == change.wire_address))
        return make_error(errc::invalid_argument, "wire address " + change.wire_address + " is already node " +
                                                      std::to_string(m.id) + "'s");
    }
    next.put(raft::member{change.id, false, change.address, change.http_address, change.wire_address});
    return next;
  }
  const auto* m = conf.find(change.id);
  if (!m) return make_error(errc::not_found, node + " is not a member");
  if (m->voter && conf.voter_count() == 1)
    return make_error(errc::invalid_argument, node + " is the last voter; a cluster needs one");
  next.remove(change.id);
  return next;
}

std::string member_address(const raft::membership& conf, const config::node_config& cfg, std::uint64_t id) {
  if (const auto* m = conf.find(id); m && !m->address.empty()) return m->address;
  const auto* seed = cfg.find_member(id);
  return seed ? seed->address : std::string();
}

}  // namespace troupe
