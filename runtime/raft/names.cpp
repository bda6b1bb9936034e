#include <algorithm>
#include <set>
#include <string>

#include "runtime/raft/config.hpp"
#include "runtime/raft/message.hpp"

namespace troupe::raft {

const char* to_string(role r) {
  switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre_candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
  }
  return "unknown";
}

const char* to_string(msg_type t) {
  switch (t) {
    case msg_type::append: return "append";
    case msg_type::append_response: return "append_response";
    case msg_type::heartbeat: return "heartbeat";
    case msg_type::heartbeat_response: return "heartbeat_response";
    case msg_type::vote: return "vote";
    case msg_type::vote_response: return "vote_response";
    case msg_type::pre_vote: return "pre_vote";
    case msg_type::pre_vote_response: return "pre_vote_response";
    case msg_type::snapshot: return "snapshot";
    case msg_type::snapshot_response: return "snapshot_response";
    case msg_type::timeout_now: return "timeout_now";
  }
  return "unknown";
}

std::string validate(const config& cfg) {
  if (cfg.id == no_node) return "config.id must be non-zero";
  if (cfg.voters.empty() && !cfg.join) return "config.voters must not be empty";
  std::set<node_id> seen;
  for (node_id v : cfg.voters) {
    if (v == no_node) return "config.voters contains node id 0";
    if (!seen.insert(v).second) return "config.voters lists node " + std::to_string(v) + " twice";
  }
  if (!seen.count(cfg.id) && !cfg.join) return "config.id " + std::to_string(cfg.id) + " is not among config.voters";
  if (cfg.heartbeat_tick < 1) return "config.heartbeat_tick must be >= 1";
  if (cfg.election_tick <= cfg.heartbeat_tick)
    return "config.election_tick (" + std::to_string(cfg.election_tick) + ") must exceed heartbeat_tick (" +
           std::to_string(cfg.heartbeat_tick) + ")";
  if (cfg.max_entries_per_append < 1) return "config.max_entries_per_append must be >= 1";
  if (cfg.max_append_bytes < 1) return "config.max_append_bytes must be >= 1";
  if (cfg.max_inflight_appends < 1) return "config.max_inflight_appends must be >= 1";
  if (cfg.snapshot_chunk_bytes < 1) return "config.snapshot_chunk_bytes must be >= 1";
  return {};
}

}  // namespace troupe::raft
