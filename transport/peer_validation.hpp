// Peer traffic is validated even from an authenticated peer (issue 11: one
// forged heartbeat with term 2^64-1 wrapped terms to 0 and an election then
// erased committed jobs; a forged ForwardJobStatus completed a running job).
// Each RaftService / InternalService handler calls one check at its top; a
// refused request is answered INVALID_ARGUMENT with the reason, logged once
// (rate-limited) naming the field, and nothing of it is delivered.
//
// Who the peer is (its certificate against `from`) is checked elsewhere
// (sec-grpc's identity check); these are the fields' own rules.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/node_config.hpp"
#include "internal.pb.h"
#include "protocol/raft_codec.hpp"
#include "raft.pb.h"
#include "transport/member_directory.hpp"

namespace troupe::transport {

// The longest peer or HTTP address a peer may send (a heartbeat's, a
// heartbeat answer's leader).
constexpr std::size_t max_address_bytes = 512;

struct peer_rules {
  std::uint64_t self = 0;
  // The replicated configuration (shared with peer_transport, which updates
  // it): members added later are accepted, removed ones refused.
  std::shared_ptr<const member_directory> members;
  std::uint64_t max_entry_bytes = 0;    // config::max_entry_bytes
  std::uint64_t max_message_bytes = 0;  // config::max_peer_message_bytes: one RaftBatch / internal request
  // A status update's time may run ahead of ours by this (clock skew) and lag
  // behind by that (a report held while no leader answered); further off,
  // align_report_times moves it to ours.
  std::int64_t max_future_ns = 0;
  std::int64_t max_past_ns = 0;
  std::int64_t max_run_ns = 0;          // a job's start precedes its update's time by at most this

  // `members` null: a directory of its own, seeded from cfg.members.
  static peer_rules from(const config::node_config& cfg, std::shared_ptr<const member_directory> members = nullptr);
  bool is_member(std::uint64_t id) const;  // members->accepts(id)
};

// Each returns "" when the request is acceptable, else "<field>: <reason>".
std::string check_raft_message(const raftpb::RaftMessage& m, codec::raft_rpc family, const peer_rules& r);
std::string check_raft_batch(const raftpb::RaftBatch& b, codec::raft_rpc family, const peer_rules& r);
std::string check_status_update(const logpb::JobStatusUpdate& u, const peer_rules& r);
std::string check_forward_job_status(const internalpb::ForwardJobStatusRequest& req, const peer_rules& r);

// A worker's clock is not the cluster's. An update whose time lies outside
// [now - max_past, now + max_future] of this node's clock (a worker whose
// clock is off, or a report that waited more than a day) is moved to `now_ns`,
// its start with it, so its run keeps its length. Refusing it instead lost
// the worker's result and ran the job again (each report of a node whose clock
// ran 10 minutes ahead was refused). Returns the offset the furthest moved
// update was given (its time minus now: positive when the worker's clock is
// ahead), 0 when none moved. For updates check_status_update accepted.
std::int64_t align_report_times(std::vector<logpb::JobStatusUpdate>& updates, std::int64_t now_ns,
                                const peer_rules& r);
// Logs (at most once a minute per node) that node `node`'s report times were
// moved by align_report_times, which returned `offset_ns`: its clock is off
// (or its reports waited more than max_past), or this node's is.
void note_report_times_moved(std::uint64_t node, std::int64_t offset_ns);
std::string check_worker_heartbeat(const internalpb::WorkerHeartbeatRequest& req, const peer_rules& r);

// "" when every sender of `b` (0 aside) is this node or a member of its
// configuration; otherwise which one is not. A removed node hears of its
// removal through this refusal (FAILED_PRECONDITION on gRPC).
std::string check_raft_senders(const raftpb::RaftBatch& b, const peer_rules& r);

// Logs "<method> refused: <why> (peer <peer>)", at most one line per second
// per method with the count of lines left out, and returns the text.
std::string note_refused(const std::string& peer, const char* method, const std::string& why);

}  // namespace troupe::transport
