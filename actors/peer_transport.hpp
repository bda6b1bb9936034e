// peer_transport: carries the Raft core's outgoing messages to the other
// members over gRPC RaftService. One-way: each call delivers a batch of
// messages for one peer and one RPC family; replies come back as messages of
// their own. Non-blocking (gRPC's callback API); a failed call is dropped and
// logged at debug, since Raft retransmits.
#pragma once

#include <memory>

#include "actors/interfaces.hpp"
#include "gateway/peer_clients.hpp"

namespace troupe {

struct peer_transport_state {
  static inline const char* name = "peer_transport";
  std::shared_ptr<const peer_clients> peers;
};

peer_transport_actor::behavior_type peer_transport(peer_transport_actor::stateful_pointer<peer_transport_state> self,
                                                   std::shared_ptr<const peer_clients> peers);

}  // namespace troupe
