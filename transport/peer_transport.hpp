// peer_transport: every call this node makes to another member, behind the
// typed interface of transport/interface.hpp.
//   - Raft messages over RaftService, one-way: each write delivers a batch of
//     messages for one peer and one RPC family; replies come back as messages
//     of their own; what fails is dropped and logged at debug, since Raft
//     retransmits. The AppendEntries family goes down one long-lived stream
//     per peer (transport/raft_stream.hpp), the rarer families (votes,
//     snapshot chunks, TimeoutNow) as unary calls, as does everything to a
//     peer without the Stream method. To a peer whose entry in the
//     replicated configuration (or else in [[members]]) names its raft
//     wire, the AppendEntries family goes over the wire instead while the
//     wire carries (transport/wire_dialer.hpp).
//   - InternalService requests (ForwardJobStatus, WorkerHeartbeat,
//     GetJobOutput, SetWorkerDraining), each answered to the requester with
//     the reply or a troupe caf::error (the peer's gRPC status read back as
//     its errc).
//   - Membership: as a role listener of raft_node it keeps the channels
//     (peer_clients::sync) and the senders the servers accept
//     (member_directory) in step with the replicated configuration.
// Non-blocking throughout (gRPC's callback API); deadlines from config/timeouts.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "config/node_config.hpp"
#include "transport/interface.hpp"
#include "transport/member_directory.hpp"
#include "transport/peer_clients.hpp"
#include "transport/raft_stream.hpp"
#include "transport/wire_dialer.hpp"

namespace troupe {

struct peer_transport_state {
  static inline const char* name = "peer_transport";
  config::node_config cfg;
  std::shared_ptr<peer_clients> peers;
  std::shared_ptr<transport::member_directory> members;
  // The raft wire's links, made when a peer first has a wire address (null
  // before, or when [tls]'s files were refused: wire_refused); declared
  // before `streams`, so it outlives the links they hold.
  std::unique_ptr<transport::wire_dialer> wire;
  bool wire_refused = false;

  // The configuration raft_node announced last, and a leader it does not
  // list yet that a member this node does list named (learn_leader): the
  // transport accepts and answers that leader's traffic until the
  // configuration that lists it arrives.
  raft::membership conf;
  std::uint64_t conf_index = 0;
  std::optional<raft::member> named_leader;
  std::size_t ask_next = 0;  // which other member to ask next

  // The outbound stream to each peer, tied to the stub it was opened on (a
  // new channel after a configuration change gets a new stream).
  struct outbound {
    std::shared_ptr<raftpb::RaftService::Stub> stub;
    std::shared_ptr<transport::raft_stream> stream;
    std::shared_ptr<std::atomic<bool>> no_stream = std::make_shared<std::atomic<bool>>(false);
    // The wire to the peer, which carries its appends in the stream's place
    // while it is ready; none before redial_at after one failed.
    std::shared_ptr<transport::wire_link> link;
    std::chrono::steady_clock::time_point redial_at{};
  };
  std::map<std::uint64_t, outbound> streams;

  ~peer_transport_state() {
    for (auto& [id, o] : streams) {
      if (o.stream) o.stream->close();
      if (o.link) o.link->close();
    }
  }
};

// `members` is shared with the servers (add_peer_services): the transport
// keeps it in step with raft_node's configuration.
peer_transport_actor::behavior_type peer_transport(peer_transport_actor::stateful_pointer<peer_transport_state> self,
                                                   config::node_config cfg, std::shared_ptr<peer_clients> peers,
                                                   std::shared_ptr<transport::member_directory> members);

}  // namespace troupe
