#include "transport/peer_identity.hpp"

#include <grpc/grpc_security_constants.h>

#include "runtime/common/log.hpp"

namespace troupe::transport {

std::optional<std::uint64_t> node_id_of(const std::string& name) {
  constexpr std::string_view prefix = "node-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string_view digits(name);
  digits.remove_prefix(prefix.size());
  if (digits.size() > 19 || digits.front() == '0') return std::nullopt;  // 19 digits always fit in 64 bits
  std::uint64_t id = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    id = id * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return id;
}

std::optional<std::uint64_t> certified_node(const grpc::AuthContext& auth) {
  // Properties exist only for a certificate the handshake verified against
  // ca_file; IsPeerAuthenticated() says so explicitly.
  if (!auth.IsPeerAuthenticated()) return std::nullopt;
  std::optional<std::uint64_t> found;
  for (const char* property : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
    for (const auto& v : auth.FindPropertyValues(property)) {
      auto id = node_id_of(std::string(v.data(), v.size()));
      if (!id) continue;  // DNS:localhost, IP:127.0.0.1, ...
      if (found && *found != *id) return std::nullopt;
      found = id;
    }
  }
  return found;
}

peer_identity::peer_identity(const config::node_config& cfg, std::shared_ptr<const member_directory> members)
    : enabled_(cfg.tls.enabled()),
      self_(cfg.id),
      members_(members ? std::move(members) : std::make_shared<const member_directory>(cfg)) {}

grpc::Status peer_identity::verify(const grpc::ServerContextBase& ctx, const char* call,
                                   const std::vector<std::uint64_t>& claimed) const {
  if (!enabled_) return grpc::Status::OK;
  auto auth = ctx.auth_context();
  auto node = auth ? certified_node(*auth) : std::nullopt;
  if (!node) {
    log_refusal(std::string(call) + " from " + ctx.peer() + " refused: no node certificate");
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        std::string(call) + " is for cluster members only: present a node-<id> certificate "
                                            "signed by the cluster CA");
  }
  if (!members_->accepts(*node)) {
    // A node of this cluster's CA, but not in the configuration: removed, or
    // not added yet. The same answer as without TLS (peer_services.cpp), so
    // that a removed node's transport tells its operator.
    log_refusal(std::string(call) + " from " + ctx.peer() + " refused: node-" + std::to_string(*node) +
                " is not in this node's configuration");
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "node " + std::to_string(*node) + " is not in node " + std::to_string(self_) +
                            "'s configuration");
  }
  for (auto id : claimed) {
    if (id == *node) continue;
    log_refusal(std::string(call) + " from " + ctx.peer() + " refused: claims to be node " + std::to_string(id) +
                " but its certificate is node-" + std::to_string(*node) + "'s");
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        std::string(call) + ": message claims node " + std::to_string(id) +
                            ", the certificate says node " + std::to_string(*node));
  }
  return grpc::Status::OK;
}

void peer_identity::log_refusal(const std::string& line) const {
  std::uint64_t left_out = 0;
  {
    std::lock_guard<std::mutex> lock(log_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (logged_in_window_ == 0 || now - window_start_ >= log_window) {
      window_start_ = now;
      logged_in_window_ = 0;
    }
    if (logged_in_window_ >= log_burst) {
      ++suppressed_;
      return;
    }
    ++logged_in_window_;
    left_out = suppressed_;
    suppressed_ = 0;
  }
  std::string note;
  if (left_out) note = " (" + std::to_string(left_out) + " refusals since the last logged one were not logged)";
  TLOG(warn, "peer_identity") << line << note;
}

}  // namespace troupe::transport
