// gRPC clients for every other member of the cluster (channels connect lazily
// and reconnect by themselves). Created for the seed members at start-up and
// kept in step with the replicated configuration by peer_transport
// (`sync`): a member added later gets a channel, a removed one loses it. Any
// thread may look a stub up: the map is guarded, and a stub is handed out as
// a shared_ptr so that a call already started keeps it alive across a sync.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "internal.grpc.pb.h"
#include "raft.grpc.pb.h"
#include "runtime/raft/membership.hpp"
#include "scheduler.grpc.pb.h"
#include "transport/raft_stream.hpp"

namespace troupe {

class peer_clients {
 public:
  explicit peer_clients(const config::node_config& cfg);
  // Cancels the unary calls still open on these channels, then waits
  // (bounded) for them and the Raft streams to end, so that none releases a
  // channel on a gRPC thread (raft_stream.hpp).
  ~peer_clients();
  peer_clients(const peer_clients&) = delete;
  peer_clients& operator=(const peer_clients&) = delete;

  // What every raft_stream and unary call on these channels counts in.
  const std::shared_ptr<transport::stream_count>& streams() const { return streams_; }

  std::shared_ptr<raftpb::RaftService::Stub> raft(std::uint64_t id) const;
  std::shared_ptr<internalpb::InternalService::Stub> internal(std::uint64_t id) const;
  std::shared_ptr<scheduler::SchedulerService::Stub> scheduler(std::uint64_t id) const;  // forwarding to the leader

  // Whether the channel to `id` is connected now (gRPC's READY). A leader's
  // channels to live followers always are (their Raft stream); one to a node
  // that stopped is not from the moment its connection closes.
  bool connected(std::uint64_t id) const;

  // Channels for exactly the other members of `conf` that have an address (a
  // new address replaces the channel). While this node is not in `conf`
  // itself (joining, still catching up) the seed members' channels stay too:
  // it must answer whichever of them leads. Returns what changed, for the log
  // ("" when nothing did).
  std::string sync(const raft::membership& conf);

 private:
  struct peer {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<raftpb::RaftService::Stub> raft;
    std::shared_ptr<internalpb::InternalService::Stub> internal;
    std::shared_ptr<scheduler::SchedulerService::Stub> scheduler;
  };
  peer connect(std::uint64_t id, const std::string& address) const;
  const peer* find(std::uint64_t id) const;  // mutex_ held

  config::node_config cfg_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, peer> peers_;
  // The channels sync dropped (a removed member, a changed address), kept
  // until this object ends, after its streams and calls: one still open on
  // such a channel would otherwise release it on a gRPC thread
  // (raft_stream.hpp). One per membership change, and no call is made on
  // them any more.
  std::vector<std::shared_ptr<grpc::Channel>> retired_;
  std::shared_ptr<transport::stream_count> streams_ = std::make_shared<transport::stream_count>();
};

// Channel arguments shared by servers and clients: large enough messages for
// snapshot chunks and append batches.
constexpr int max_message_bytes = 64 << 20;

}  // namespace troupe
