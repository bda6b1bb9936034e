#include "transport/peer_clients.hpp"

namespace troupe {

peer_clients::peer_clients(const config::node_config& cfg) {
  for (const auto& m : cfg.members) {
    if (m.id == cfg.id) continue;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(max_message_bytes);
    args.SetMaxSendMessageSize(max_message_bytes);
    // Reconnect quickly after a peer restarts: elections depend on it.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    peer p;
    p.channel = grpc::CreateCustomChannel(m.address, grpc::InsecureChannelCredentials(), args);
    p.raft = raftpb::RaftService::NewStub(p.channel);
    p.internal = internalpb::InternalService::NewStub(p.channel);
    p.scheduler = scheduler::SchedulerService::NewStub(p.channel);
    peers_.emplace(m.id, std::move(p));
  }
}

raftpb::RaftService::Stub* peer_clients::raft(std::uint64_t id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.raft.get();
}

internalpb::InternalService::Stub* peer_clients::internal(std::uint64_t id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.internal.get();
}

scheduler::SchedulerService::Stub* peer_clients::scheduler(std::uint64_t id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.scheduler.get();
}

}  // namespace troupe
