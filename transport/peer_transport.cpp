#include "transport/peer_transport.hpp"

#include <chrono>
#include <map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "config/limits.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "protocol/raft_codec.hpp"
#include "runtime/common/log.hpp"
#include "transport/internal_codec.hpp"
#include "transport/peer_validation.hpp"
#include "transport/unary_call.hpp"

namespace troupe {
namespace {

using self_ptr = peer_transport_actor::stateful_pointer<peer_transport_state>;

struct raft_call {
  grpc::ClientContext ctx;
  raftpb::RaftBatch request;
  raftpb::Ack reply;
};

// One unary RaftService call carrying `batch`.
void dispatch(self_ptr self, std::shared_ptr<raftpb::RaftService::Stub> stub, codec::raft_rpc rpc, std::uint64_t to,
              raftpb::RaftBatch&& batch) {
  auto c = std::make_shared<raft_call>();
  c->request = std::move(batch);
  c->ctx.set_deadline(std::chrono::system_clock::now() + config::raft_call_deadline);
  // Counted until the completion lets go of it (transport/unary_call.hpp).
  auto held = std::make_shared<transport::counted_call<raft_call>>(self->state.peers->streams(), c);
  auto done = [held, to](grpc::Status s) { transport::note_raft_call_end(to, s); };
  auto* async = stub->async();
  switch (rpc) {
    case codec::raft_rpc::append_entries: async->AppendEntries(&c->ctx, &c->request, &c->reply, done); break;
    case codec::raft_rpc::request_vote: async->RequestVote(&c->ctx, &c->request, &c->reply, done); break;
    case codec::raft_rpc::install_snapshot: async->InstallSnapshot(&c->ctx, &c->request, &c->reply, done); break;
    case codec::raft_rpc::timeout_now: async->TimeoutNow(&c->ctx, &c->request, &c->reply, done); break;
  }
}

void stream_to(self_ptr self, std::uint64_t to, const std::shared_ptr<raftpb::RaftService::Stub>& stub,
               raftpb::RaftBatch&& batch) {
  auto& o = self->state.streams[to];
  if (o.stub != stub) {  // first use, or a new channel
    if (o.stream) o.stream->close();
    if (o.link) o.link->close();
    o = peer_transport_state::outbound{};
    o.stub = stub;
  }
  auto open_stream = [&] { o.stream = transport::raft_stream::open(stub, to, o.no_stream, self->state.peers->streams()); };
  auto& st = self->state;
  const std::string wire_at = st.members->wire_address(to);
  if (!wire_at.empty() && !st.wire && !st.wire_refused) {
    try {
      st.wire = std::make_unique<transport::wire_dialer>(st.cfg.tls);
    } catch (const std::exception& e) {
      // The gRPC streams carry everything then; their own handshakes will
      // say the same about these files.
      st.wire_refused = true;
      TLOG(error, "peer_transport") << "no raft wire: " << e.what();
    }
  }
  if (auto& wire = st.wire) {
    if (o.link && (o.link->over() || o.link->address() != wire_at)) {
      if (!o.link->over()) o.redial_at = {};  // the peer's wire moved (or is gone): dial the new one now
      o.link->close();
      o.link.reset();
    }
    const auto now = std::chrono::steady_clock::now();
    if (!o.link && !wire_at.empty() && now >= o.redial_at) {
      o.link = wire->dial(to, wire_at);
      o.redial_at = now + config::wire_redial_wait;
    }
    if (o.link && o.link->send(batch)) {
      // The stream stays open beside the wire: it keeps the channel to the
      // peer connected, which a drain reads (peer_clients::connected), and
      // takes the batches the moment the wire ends.
      if (!o.no_stream->load() && (!o.stream || o.stream->ended())) open_stream();
      return;
    }
  }
  if (o.no_stream->load()) {
    dispatch(self, stub, codec::raft_rpc::append_entries, to, std::move(batch));
    return;
  }
  if (o.stream && o.stream->send(std::move(batch))) return;
  open_stream();
  o.stream->send(std::move(batch));
}

void send_raft(self_ptr self, const raft_outbox& out) {
  // Batches per (peer, family), each packed up to config::peer_call_bytes
  // (one message always goes): a pipelined catch-up of many full appends must
  // not add up to one batch over the peers' limit (issue 11: such a follower
  // never caught up). Raft tolerates reordering between unary calls.
  const std::uint64_t budget = config::peer_call_bytes(self->state.cfg);
  std::map<std::pair<std::uint64_t, codec::raft_rpc>, std::vector<raftpb::RaftBatch>> calls;
  std::map<std::pair<std::uint64_t, codec::raft_rpc>, std::uint64_t> bytes;  // of each key's last call
  for (const auto& m : out.messages) {
    auto key = std::make_pair(m.to, codec::rpc_for(m.type));
    raftpb::RaftMessage pm;
    codec::to_proto(m, pm);
    const std::uint64_t size = pm.ByteSizeLong();
    auto& list = calls[key];
    auto& used = bytes[key];
    if (list.empty() || (used > 0 && used + size > budget)) {
      list.emplace_back();
      used = 0;
    }
    *list.back().add_messages() = std::move(pm);
    used += size;
  }
  for (auto& [key, list] : calls) {
    auto stub = self->state.peers->raft(key.first);
    if (!stub) {
      TLOG(warn, "peer_transport") << "no channel to node " << key.first;
      continue;
    }
    for (auto& batch : list) {
      if (key.second == codec::raft_rpc::append_entries)
        stream_to(self, key.first, stub, std::move(batch));
      else
        dispatch(self, stub, key.second, key.first, std::move(batch));
    }
  }
}

// Closes the streams of peers that have no channel any more.
void prune_streams(self_ptr self) {
  auto& streams = self->state.streams;
  for (auto it = streams.begin(); it != streams.end();) {
    if (self->state.peers->raft(it->first)) {
      ++it;
      continue;
    }
    if (it->second.stream) it->second.stream->close();
    if (it->second.link) it->second.link->close();
    it = streams.erase(it);
  }
}

// The members the transport accepts and keeps channels to: the announced
// configuration, plus a leader it does not list yet that a listed member
// named (as a learner: it is nobody's vote here).
void follow(self_ptr self) {
  auto& st = self->state;
  raft::membership conf = st.conf;
  if (st.named_leader) conf.put(*st.named_leader);
  st.members->update(conf);
  if (auto changes = st.peers->sync(conf); !changes.empty()) {
    TLOG(info, "peer_transport") << "peer channels follow the configuration at index " << st.conf_index
                                 << (st.named_leader ? " and the leader a member named" : "") << ": " << changes;
    prune_streams(self);
  }
}

// A member's answer to a heartbeat sent while this node knew no leader.
// Its leader, when this node's configuration does not list it, is one added
// after the last configuration this node has: a member that slept through
// that addition, or one replaced, refuses the leader's appends as a
// stranger's (it accepts members only), and no other node would ever send
// it the entries that list the leader. A member it does list vouches for
// it, so its traffic is accepted from now on (docs/ARCHITECTURE.md).
void learn_leader(self_ptr self, std::uint64_t asked, const heartbeat_reply& r) {
  auto& st = self->state;
  const auto leader = r.leader_id;
  // Only a member needs it: a node outside its own configuration (joining,
  // or replaying entries older than its addition) accepts any node already.
  if (!st.conf.contains(st.cfg.id) || !st.conf.contains(asked) || leader == raft::no_node || leader == st.cfg.id ||
      st.conf.contains(leader) || r.leader_address.empty() || r.leader_address.size() > transport::max_address_bytes)
    return;
  if (st.named_leader && st.named_leader->id == leader && st.named_leader->address == r.leader_address) return;
  TLOG(info, "peer_transport") << "node " << asked << " says node " << leader << " leads (term " << r.term << ", at "
                               << r.leader_address << "), which this node's configuration (index " << st.conf_index
                               << ") does not list yet: its Raft traffic is accepted from now on";
  st.named_leader = raft::member{leader, false, r.leader_address, "", ""};
  follow(self);
}

// The next other member of this node's configuration to ask for the
// leader, one after another (0: none). Only their answers count
// (learn_leader), so a leader named earlier is not asked.
std::uint64_t next_to_ask(self_ptr self) {
  auto& st = self->state;
  std::vector<std::uint64_t> others;
  for (const auto& m : st.conf.members())
    if (m.id != st.cfg.id && st.peers->internal(m.id)) others.push_back(m.id);
  if (others.empty()) return raft::no_node;
  return others[st.ask_next++ % others.size()];
}

caf::error no_channel(std::uint64_t node) {
  return make_error(errc::unavailable, node == 0 ? std::string("no leader to send to")
                                                 : "no channel to node " + std::to_string(node));
}

}  // namespace

peer_transport_actor::behavior_type peer_transport(peer_transport_actor::stateful_pointer<peer_transport_state> self,
                                                   config::node_config cfg, std::shared_ptr<peer_clients> peers,
                                                   std::shared_ptr<transport::member_directory> members) {
  self->state.cfg = std::move(cfg);
  self->state.peers = std::move(peers);
  self->state.members = std::move(members);
  auto& sys = self->system();
  return {
      [=](send_atom, const raft_outbox& out) { send_raft(self, out); },
      [=](const role_change& rc) {
        auto& st = self->state;
        if (rc.conf.empty()) return;  // a joining node keeps its seed until the leader's arrives
        st.conf = rc.conf;
        st.conf_index = rc.conf_index;
        if (st.named_leader && st.conf.contains(st.named_leader->id)) st.named_leader.reset();  // listed now
        follow(self);
      },
      [=, &sys](report_atom, std::uint64_t leader, const status_batch& b) -> caf::result<report_ack> {
        auto stub = self->state.peers->internal(leader);
        if (!stub) return no_channel(leader);
        internalpb::ForwardJobStatusRequest req;
        for (const auto& u : b.updates) *req.add_updates() = u;
        auto seq = b.seq;
        auto call = transport::spawn_call<report_ack, internalpb::ForwardJobStatusResponse>(
            sys, self->state.peers->streams(), config::forward_wait(self->state.cfg), std::move(req),
            [stub](auto* ctx, auto* q, auto* p, auto cb) { stub->async()->ForwardJobStatus(ctx, q, p, std::move(cb)); },
            [seq](const internalpb::ForwardJobStatusResponse& r) { return report_ack{seq, r.accepted(), r.message()}; });
        return self->delegate(call, run_atom::value);
      },
      [=, &sys](heartbeat_atom, std::uint64_t leader, const worker_report& w) -> caf::result<heartbeat_reply> {
        const bool asking = leader == raft::no_node;
        const std::uint64_t to = asking ? next_to_ask(self) : leader;
        auto stub = self->state.peers->internal(to);
        if (!stub) return no_channel(to);
        internalpb::WorkerHeartbeatRequest req;
        transport::to_proto(w, &req);
        auto call = transport::spawn_call<heartbeat_reply, internalpb::WorkerHeartbeatResponse>(
            sys, self->state.peers->streams(), config::heartbeat_deadline(self->state.cfg), std::move(req),
            [stub](auto* ctx, auto* q, auto* p, auto cb) { stub->async()->WorkerHeartbeat(ctx, q, p, std::move(cb)); },
            [](const internalpb::WorkerHeartbeatResponse& r) { return transport::from_proto(r); });
        if (!asking) return self->delegate(call, run_atom::value);
        auto rp = self->make_response_promise<heartbeat_reply>();
        self->request(call, caf::infinite, run_atom::value)
            .then(
                [=](heartbeat_reply& r) mutable {
                  learn_leader(self, to, r);
                  rp.deliver(std::move(r));
                },
                [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=, &sys](output_atom, std::uint64_t node, const std::string& job_id) -> caf::result<job_output> {
        auto stub = self->state.peers->internal(node);
        if (!stub) return no_channel(node);
        internalpb::GetJobOutputRequest req;
        req.set_job_id(job_id);
        auto call = transport::spawn_call<job_output, internalpb::GetJobOutputResponse>(
            sys, self->state.peers->streams(), config::remote_query_wait(), std::move(req),
            [stub](auto* ctx, auto* q, auto* p, auto cb) { stub->async()->GetJobOutput(ctx, q, p, std::move(cb)); },
            [](const internalpb::GetJobOutputResponse& r) { return transport::from_proto(r); });
        return self->delegate(call, run_atom::value);
      },
      [=, &sys](drain_atom, std::uint64_t leader, std::uint64_t node, bool draining) -> caf::result<std::uint64_t> {
        auto stub = self->state.peers->internal(leader);
        if (!stub) return no_channel(leader);
        internalpb::SetWorkerDrainingRequest req;
        req.set_worker_id(node);
        req.set_draining(draining);
        auto call = transport::spawn_call<std::uint64_t, internalpb::SetWorkerDrainingResponse>(
            sys, self->state.peers->streams(), config::forward_wait(self->state.cfg), std::move(req),
            [stub](auto* ctx, auto* q, auto* p, auto cb) {
              stub->async()->SetWorkerDraining(ctx, q, p, std::move(cb));
            },
            [](const internalpb::SetWorkerDrainingResponse& r) { return r.commit_index(); });
        return self->delegate(call, run_atom::value);
      },
  };
}

}  // namespace troupe
