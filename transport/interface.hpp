// The transport's typed interface: what an actor may ask of the other members
// (outbound, peer_transport_actor) and which actors inbound peer calls are
// delivered to (peer_inbox). Free of gRPC on purpose: actors include this and
// nothing else of the transport, so they never see a stub or a channel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/typed_actor.hpp>

#include "protocol/messages.hpp"

namespace troupe {

// Job status updates on their way into the log, numbered by the sender so
// that every answer can be tied to the batch it answers.
struct status_batch {
  std::uint64_t seq = 0;
  std::vector<logpb::JobStatusUpdate> updates;
};

// The answer to one status batch. final: the leader applied it, or the job
// table refused it for good (see is_final in status_report.hpp); otherwise
// the sender keeps the updates and retries.
struct report_ack {
  std::uint64_t seq = 0;
  bool final = false;
  std::string message;
};

// Outbound calls to other members over gRPC (RaftService, InternalService).
// Failures answer with a caf::error of protocol/errors.hpp (e.g. unavailable
// "no channel to node 3"); a peer's gRPC status comes back as its errc.
using peer_transport_actor = caf::typed_actor<
    // Raft messages, one-way: replies arrive as messages of their own.
    caf::reacts_to<send_atom, raft_outbox>,
    // raft_node's announcements (the transport subscribes as a role
    // listener): channels and the accepted senders follow its configuration.
    caf::reacts_to<role_change>,
    // ForwardJobStatus to the leader.
    caf::replies_to<report_atom, std::uint64_t /*leader*/, status_batch>::with<report_ack>,
    // WorkerHeartbeat to the leader. With no leader known (0), to one other
    // member after another, to learn it (peer_transport.cpp: learn_leader).
    caf::replies_to<heartbeat_atom, std::uint64_t /*leader*/, worker_report>::with<heartbeat_reply>,
    // GetJobOutput from the node that ran the job.
    caf::replies_to<output_atom, std::uint64_t /*node*/, std::string /*job id*/>::with<job_output>,
    // SetWorkerDraining on the leader: answers the commit index of the drain entry.
    caf::replies_to<drain_atom, std::uint64_t /*leader*/, std::uint64_t /*node*/, bool /*draining*/>::with<
        std::uint64_t>>;

// Inbound: the actors peer calls are delivered to, each seen through only the
// messages the transport sends it (a full handle converts implicitly).
// Raft messages are stepped into raft_node; forwarded status batches and
// drains become proposals.
using raft_inbox = caf::typed_actor<caf::reacts_to<step_atom, raft::message>,
                                    caf::replies_to<propose_atom, logpb::Command>::with<proposal_result>>;
using heartbeat_inbox = caf::typed_actor<caf::replies_to<heartbeat_atom, worker_report>::with<heartbeat_reply>>;
using output_inbox = caf::typed_actor<caf::replies_to<output_atom, std::string>::with<job_output>>;

struct peer_inbox {
  raft_inbox raft;              // raft_node
  heartbeat_inbox heartbeats;   // heartbeat_tracker
  output_inbox outputs;         // job_supervisor (reads this node's stored outputs)
};

}  // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::status_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::report_ack)
