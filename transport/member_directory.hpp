// Who belongs to the cluster right now, as the transport sees it: the
// replicated configuration raft_node announces (thesis 4.1: in effect once
// appended), read by gRPC server threads (peer_identity, peer_validation,
// InternalService) and by peer_transport. [[members]] only seeds it until
// raft_node's first announcement. Readers get an immutable snapshot; an
// update swaps it under a mutex, so no reader ever sees half a change.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "config/node_config.hpp"
#include "runtime/raft/membership.hpp"

namespace troupe::transport {

class member_directory {
 public:
  explicit member_directory(const config::node_config& cfg);

  // The configuration now (never null). Empty only for a joining node that
  // has not received one yet.
  std::shared_ptr<const raft::membership> current() const;

  // Installs `conf` (empty configurations are ignored: a joining node keeps
  // its seed until the leader's arrives). True when anything changed.
  bool update(const raft::membership& conf);

  // Whether peer traffic from `id` is accepted. A node that is not in its own
  // configuration (joining, catching up through entries older than its
  // addition, or removed) accepts any node: it has nothing to count and must
  // hear the leader that adds it, whoever that is; its core decides. A member
  // accepts only members.
  bool accepts(std::uint64_t id) const;

  // The peer address of `id`: the configuration's, else the seed list's ("" if none).
  std::string address(std::uint64_t id) const;
  // The raft wire address of `id`, the same way ("": it has none).
  std::string wire_address(std::uint64_t id) const;

 private:
  std::uint64_t self_;
  config::node_config seed_;
  mutable std::mutex mutex_;
  std::shared_ptr<const raft::membership> conf_;
};

// The seed configuration of a first start, with the config file's addresses.
raft::membership seed_membership(const config::node_config& cfg);

}  // namespace troupe::transport
