// node_service: the one actor every client operation of a node goes through,
// whichever gateway it arrived by. It validates, asks the actors beneath it
// (raft_node, job_table, heartbeat_tracker, job_supervisor; job_dispatcher
// for SubmitJob, which may place the job in its entry), forwards to the
// leader where an operation needs one, runs the replicated drain workflow,
// and answers typed results or caf::errors of protocol/errors.hpp. Gateways
// only translate requests in and answers out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/typed_actor.hpp>

#include "actors/interfaces.hpp"
#include "config/node_config.hpp"
#include "transport/peer_clients.hpp"
#include "scheduler.pb.h"

namespace troupe {

struct submit_request {
  std::string command;
  std::string image;        // empty: the executing node's default
  std::uint32_t timeout_s = 0;
  bool forward = false;     // on a follower, submit on the leader (REST) instead of answering not_leader (gRPC)
  std::string authorization;  // the client's "Bearer <token>", sent along when forwarded; empty: none
};

// A job with its output: the whole of it from the node that ran the job when
// the replicated inline prefix was truncated and that node answered.
struct job_detail {
  jobs::job job;
  job_output output;  // found = false: the inline output in `job` is all there is
};

// What health checks and metrics read: this node's Raft state, its job
// table's figures and whether its table says it is draining.
struct node_health {
  raft_status raft;
  table_stats jobs;
  bool draining = false;
};

struct drain_result {
  bool timed_out = false;  // the node's jobs were still active after config::drain_jobs_wait
  std::string message;     // says "leadership handed to node N" when it did
};

// `local_only` = answer from this node's own state, never forwarding (a
// request already forwarded by a follower, or a fallback when the leader is
// unreachable). `authorization` is the client's "authorization" header or
// metadata value ("Bearer <token>", empty: none): sent along when the
// operation is forwarded, so the leader checks the client's token again.
using node_service_actor = caf::typed_actor<
    caf::replies_to<submit_atom, submit_request>::with<proposal_result>,
    caf::replies_to<cancel_atom, std::string, bool /*forward*/, std::string /*authorization*/>::with<
        std::uint64_t /*index*/>,
    caf::replies_to<get_atom, std::string, bool /*linearizable*/>::with<job_detail>,
    caf::replies_to<list_atom, jobs::list_query>::with<jobs::list_result>,
    caf::replies_to<subscribe_atom, change_listener>::with<job_snapshot_view>,
    caf::reacts_to<unsub_atom, change_listener>,
    caf::replies_to<cluster_atom, bool /*local_only*/, std::string /*authorization*/>::with<
        scheduler::GetClusterStatusResponse>,
    caf::replies_to<log_atom, std::uint64_t, std::uint32_t, bool /*local_only*/, std::string /*authorization*/>::with<
        scheduler::GetRaftLogEntriesResponse>,
    caf::replies_to<transfer_atom, std::uint64_t /*target, 0 = best*/, bool /*forward*/,
                    std::string /*authorization*/>::with<std::uint64_t /*new leader*/>,
    caf::replies_to<drain_atom>::with<drain_result>,
    caf::replies_to<undrain_atom>::with<std::string>,
    // The node is stopping (node/bootstrap.cpp): a leader hands leadership to
    // a live follower first, as DrainNode does; the answer says to whom, or
    // why not ("" when this node does not lead).
    caf::replies_to<shutdown_atom>::with<std::string>,
    // MembershipService (service/membership.hpp): a change (leader only),
    // and this node's configuration (bool: local, else leader only).
    caf::replies_to<member_atom, member_change>::with<member_result>,
    caf::replies_to<member_atom, bool /*local*/>::with<raft_status>,
    caf::replies_to<status_atom>::with<node_health>,
    caf::replies_to<topology_atom>::with<topology>,
    // AdminService.SaveSnapshot: the leader's consistent image of the job
    // table (service/snapshot_save.hpp).
    caf::replies_to<backup_atom>::with<table_image>,
    // A call to another node finished on a gRPC thread; its continuation runs here.
    caf::reacts_to<forward_atom, std::shared_ptr<std::function<void()>>>>;

struct node_service_init {
  config::node_config cfg;
  raft_node_actor raft;
  job_table_actor table;
  job_dispatcher_actor dispatcher;             // SubmitJob's way to raft_node
  heartbeat_tracker_actor tracker;
  job_supervisor_actor supervisor;
  peer_transport_actor transport;              // outputs and drains through the leader
  std::shared_ptr<const peer_clients> peers;   // SchedulerService stubs, to forward client calls to the leader
  topology fixed_actors;  // the tree the bootstrap spawned
};

node_service_actor::behavior_type node_service(node_service_actor::pointer self, std::shared_ptr<node_service_init> init);

}  // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::submit_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::job_detail)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::node_health)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::drain_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::jobs::list_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::jobs::list_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(::scheduler::GetClusterStatusResponse)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(::scheduler::GetRaftLogEntriesResponse)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<std::function<void()>>)
