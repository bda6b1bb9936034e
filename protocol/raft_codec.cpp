#include "protocol/raft_codec.hpp"

namespace troupe::codec {

void to_proto(const raft::message& m, raftpb::RaftMessage& out) {
  out.set_type(static_cast<std::uint32_t>(m.type));
  out.set_from(m.from);
  out.set_to(m.to);
  out.set_term(m.term);
  out.set_log_term(m.log_term);
  out.set_index(m.index);
  out.set_commit(m.commit);
  out.set_reject(m.reject);
  out.set_reject_hint(m.reject_hint);
  out.set_context(m.context);
  out.mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (const auto& e : m.entries) {
    auto* pe = out.add_entries();
    pe->set_term(e.term);
    pe->set_index(e.index);
    pe->set_type(static_cast<std::uint32_t>(e.type));
    pe->set_data(e.data);
  }
  if (m.type == raft::msg_type::snapshot || m.type == raft::msg_type::snapshot_response) {
    auto* s = out.mutable_snapshot();
    s->set_index(m.snapshot.index);
    s->set_term(m.snapshot.term);
    for (auto v : m.snapshot.conf.voters()) s->add_voters(v);
    if (!m.snapshot.conf.empty()) s->set_conf(raft::encode(m.snapshot.conf));
    s->set_offset(m.snapshot.offset);
    s->set_data(m.snapshot.data);
    s->set_done(m.snapshot.done);
    s->set_total_size(m.snapshot.total_size);
  }
}

raft::message from_proto(const raftpb::RaftMessage& p) {
  raft::message m;
  m.type = static_cast<raft::msg_type>(p.type());
  m.from = p.from();
  m.to = p.to();
  m.term = p.term();
  m.log_term = p.log_term();
  m.index = p.index();
  m.commit = p.commit();
  m.reject = p.reject();
  m.reject_hint = p.reject_hint();
  m.context = p.context();
  m.entries.reserve(static_cast<std::size_t>(p.entries_size()));
  for (const auto& pe : p.entries()) {
    raft::entry e;
    e.term = pe.term();
    e.index = pe.index();
    e.type = static_cast<raft::entry_type>(pe.type());
    e.data = pe.data();
    m.entries.push_back(std::move(e));
  }
  if (p.has_snapshot()) {
    const auto& s = p.snapshot();
    m.snapshot.index = s.index();
    m.snapshot.term = s.term();
    // peer_validation checked that conf decodes; a peer that predates it
    // sends voter ids only.
    if (auto conf = raft::decode_membership(s.conf()); conf && !s.conf().empty()) {
      m.snapshot.conf = std::move(*conf);
    } else {
      m.snapshot.conf = raft::membership::of_voters({s.voters().begin(), s.voters().end()});
    }
    m.snapshot.offset = s.offset();
    m.snapshot.data = s.data();
    m.snapshot.done = s.done();
    m.snapshot.total_size = s.total_size();
  }
  return m;
}

raft_rpc rpc_for(raft::msg_type t) {
  switch (t) {
    case raft::msg_type::vote:
    case raft::msg_type::vote_response:
    case raft::msg_type::pre_vote:
    case raft::msg_type::pre_vote_response:
      return raft_rpc::request_vote;
    case raft::msg_type::snapshot:
    case raft::msg_type::snapshot_response:
      return raft_rpc::install_snapshot;
    case raft::msg_type::timeout_now:
      return raft_rpc::timeout_now;
    default:
      return raft_rpc::append_entries;
  }
}

}  // namespace troupe::codec
