// gRPC clients for every other member of the cluster, created once at start-up
// (channels connect lazily and reconnect by themselves). Immutable after
// construction, so any thread may use it; gRPC stubs are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "internal.grpc.pb.h"
#include "raft.grpc.pb.h"
#include "scheduler.grpc.pb.h"

namespace troupe {

class peer_clients {
 public:
  explicit peer_clients(const config::node_config& cfg);

  raftpb::RaftService::Stub* raft(std::uint64_t id) const;
  internalpb::InternalService::Stub* internal(std::uint64_t id) const;
  scheduler::SchedulerService::Stub* scheduler(std::uint64_t id) const;  // for forwarding to the leader

 private:
  struct peer {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<raftpb::RaftService::Stub> raft;
    std::unique_ptr<internalpb::InternalService::Stub> internal;
    std::unique_ptr<scheduler::SchedulerService::Stub> scheduler;
  };
  std::map<std::uint64_t, peer> peers_;
};

// Channel arguments shared by servers and clients: large enough messages for
// snapshot chunks and append batches.
constexpr int max_message_bytes = 64 << 20;

}  // namespace troupe
