#include "transport/peer_clients.hpp"

#include "config/timeouts.hpp"
#include "runtime/common/log.hpp"
#include "transport/tls_files.hpp"

namespace troupe {
namespace {

// With [tls]: the cluster CA is the only trusted root, and this node's own
// certificate is its client identity (peers accept RaftService /
// InternalService calls only from certified members).
std::shared_ptr<grpc::ChannelCredentials> peer_credentials(const config::node_config& cfg) {
  if (!cfg.tls.enabled()) return grpc::InsecureChannelCredentials();
  auto files = transport::load_tls_files(cfg.tls);
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = files.ca_pem;
  o.pem_private_key = files.key_pem;
  o.pem_cert_chain = files.cert_pem;
  return grpc::SslCredentials(o);
}

}  // namespace

peer_clients::~peer_clients() {
  // The transport closed its streams and cancelled its calls as it
  // stopped; their last reactions follow within moments. Bounded: a stream
  // gRPC never finishes costs a wait, not a hang, and is said (the abort it
  // guards against may follow).
  streams_->cancel_calls();
  if (!streams_->wait_idle(config::raft_call_deadline))
    TLOG(warn, "peer_transport") << "Raft streams or peer calls still open after "
                                 << config::raft_call_deadline.count() << " ms; releasing their channels anyway";
}

peer_clients::peer_clients(const config::node_config& cfg) : cfg_(cfg), credentials_(peer_credentials(cfg)) {
  for (const auto& m : cfg.members)
    if (m.id != cfg.id) peers_.emplace(m.id, connect(m.id, m.address));
}

peer_clients::peer peer_clients::connect(std::uint64_t id, const std::string& address) const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  // Reconnect quickly after a peer restarts: elections depend on it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // gRPC also takes this as the time one connection attempt may take; a
  // refused connect fails at once either way. A TLS handshake on a loaded
  // machine can need more than 100 ms, and attempts cut short every time
  // would never connect.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, cfg_.tls.enabled() ? 2000 : 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Peers are dialed by host:port, but the certificate that answers must be
  // node-<id>'s, not merely any certificate valid for that host (every
  // node's certificate carries localhost / 127.0.0.1).
  if (cfg_.tls.enabled()) args.SetSslTargetNameOverride("node-" + std::to_string(id));
  peer p;
  p.address = address;
  p.channel = grpc::CreateCustomChannel(address, credentials_, args);
  p.raft = raftpb::RaftService::NewStub(p.channel);
  p.internal = internalpb::InternalService::NewStub(p.channel);
  p.scheduler = scheduler::SchedulerService::NewStub(p.channel);
  return p;
}

std::string peer_clients::sync(const raft::membership& conf) {
  if (conf.empty()) return {};
  const bool member = conf.contains(cfg_.id);
  std::string changes;
  auto note = [&changes](const std::string& s) { changes += (changes.empty() ? "" : ", ") + s; };
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& m : conf.members()) {
    if (m.id == cfg_.id || m.address.empty()) continue;
    auto it = peers_.find(m.id);
    if (it != peers_.end() && it->second.address == m.address) continue;
    note((it == peers_.end() ? "+node " : "node ") + std::to_string(m.id) + " at " + m.address);
    if (it != peers_.end()) retired_.push_back(it->second.channel);
    peers_[m.id] = connect(m.id, m.address);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    const bool seed = cfg_.find_member(it->first) != nullptr;
    if (conf.contains(it->first) || (!member && seed)) {
      ++it;
      continue;
    }
    note("-node " + std::to_string(it->first));
    retired_.push_back(it->second.channel);
    it = peers_.erase(it);
  }
  return changes;
}

const peer_clients::peer* peer_clients::find(std::uint64_t id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

std::shared_ptr<raftpb::RaftService::Stub> peer_clients::raft(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const peer* p = find(id);
  return p ? p->raft : nullptr;
}

std::shared_ptr<internalpb::InternalService::Stub> peer_clients::internal(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const peer* p = find(id);
  return p ? p->internal : nullptr;
}

std::shared_ptr<scheduler::SchedulerService::Stub> peer_clients::scheduler(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const peer* p = find(id);
  return p ? p->scheduler : nullptr;
}

bool peer_clients::connected(std::uint64_t id) const {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const peer* p = find(id);
    if (!p) return false;
    channel = p->channel;
  }
  return channel->GetState(false) == GRPC_CHANNEL_READY;
}

}  // namespace troupe
