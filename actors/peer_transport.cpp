#include "actors/peer_transport.hpp"

#include <chrono>
#include <map>

#include <caf/stateful_actor.hpp>

#include "protocol/raft_codec.hpp"
#include "runtime/common/log.hpp"

namespace troupe {
namespace {

struct call {
  grpc::ClientContext ctx;
  raftpb::RaftBatch request;
  raftpb::Ack reply;
};

void dispatch(raftpb::RaftService::Stub* stub, codec::raft_rpc rpc, std::uint64_t to,
              std::shared_ptr<call> c) {
  c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto done = [c, to](grpc::Status s) {
    if (!s.ok())
      TLOG(debug, "peer_transport") << "to node " << to << ": " << s.error_message();
  };
  auto* async = stub->async();
  switch (rpc) {
    case codec::raft_rpc::append_entries: async->AppendEntries(&c->ctx, &c->request, &c->reply, done); break;
    case codec::raft_rpc::request_vote: async->RequestVote(&c->ctx, &c->request, &c->reply, done); break;
    case codec::raft_rpc::install_snapshot: async->InstallSnapshot(&c->ctx, &c->request, &c->reply, done); break;
    case codec::raft_rpc::timeout_now: async->TimeoutNow(&c->ctx, &c->request, &c->reply, done); break;
  }
}

}  // namespace

peer_transport_actor::behavior_type peer_transport(peer_transport_actor::stateful_pointer<peer_transport_state> self,
                                                   std::shared_ptr<const peer_clients> peers) {
  self->state.peers = std::move(peers);
  return {
      [=](send_atom, const raft_outbox& out) {
        // One call per (peer, family), keeping each peer's messages in order.
        std::map<std::pair<std::uint64_t, codec::raft_rpc>, std::shared_ptr<call>> calls;
        for (const auto& m : out.messages) {
          auto key = std::make_pair(m.to, codec::rpc_for(m.type));
          auto& c = calls[key];
          if (!c) c = std::make_shared<call>();
          codec::to_proto(m, *c->request.add_messages());
        }
        for (auto& [key, c] : calls) {
          auto* stub = self->state.peers->raft(key.first);
          if (!stub) {
            TLOG(warn, "peer_transport") << "no channel to node " << key.first;
            continue;
          }
          dispatch(stub, key.second, key.first, c);
        }
      },
  };
}

}  // namespace troupe
