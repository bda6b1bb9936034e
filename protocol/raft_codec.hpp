// Translation between the Raft core's plain message struct and its wire form
// (protocol/raft.proto). Field for field; no logic.
#pragma once

#include "raft.pb.h"
#include "runtime/raft/message.hpp"

namespace troupe::codec {

void to_proto(const raft::message& m, raftpb::RaftMessage& out);
raft::message from_proto(const raftpb::RaftMessage& m);

// RPC family a message travels on (AppendEntries, RequestVote, InstallSnapshot, TimeoutNow).
enum class raft_rpc { append_entries, request_vote, install_snapshot, timeout_now };
raft_rpc rpc_for(raft::msg_type t);

}  // namespace troupe::codec
