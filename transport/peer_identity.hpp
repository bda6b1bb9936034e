// Who is calling RaftService / InternalService. With [tls] a peer is the node
// its verified client certificate names (CN or a DNS SAN "node-<id>", signed
// by ca_file: the handshake has already checked the signature), never the id
// a message claims: a message whose sender field names another node is
// refused, logged and not delivered. Without [tls] there is nothing to check
// against and every call passes, as before.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "config/node_config.hpp"
#include "transport/member_directory.hpp"

namespace troupe::transport {

// The node id in `name` when it is exactly "node-<id>" (id > 0, no leading
// zeros, no sign); nullopt otherwise.
std::optional<std::uint64_t> node_id_of(const std::string& name);

// The node a verified peer certificate names. nullopt when the connection has
// no verified certificate, names no node, or names two different nodes (an
// ambiguous certificate identifies no one).
std::optional<std::uint64_t> certified_node(const grpc::AuthContext& auth);

class peer_identity {
 public:
  // `members`: the replicated configuration (a node added later is a member,
  // a removed one is not); null: a directory of its own seeded from cfg.
  explicit peer_identity(const config::node_config& cfg, std::shared_ptr<const member_directory> members = nullptr);

  // OK when TLS is off. Otherwise: no verified node certificate →
  // UNAUTHENTICATED; one for a node outside the replicated configuration
  // (removed, or not added yet) → FAILED_PRECONDITION; any of `claimed` (the ids
  // the message says it comes from) other than the certified node →
  // PERMISSION_DENIED. Every refusal is logged (rate-limited).
  grpc::Status verify(const grpc::ServerContextBase& ctx, const char* call,
                      const std::vector<std::uint64_t>& claimed) const;

 private:
  void log_refusal(const std::string& line) const;

  bool enabled_;
  std::uint64_t self_;
  std::shared_ptr<const member_directory> members_;
  // Refusals can come at line rate from a hostile peer: at most
  // log_burst lines per log_window, then a count of the ones left out.
  static constexpr int log_burst = 10;
  static constexpr std::chrono::seconds log_window{10};
  mutable std::mutex log_mutex_;
  mutable std::chrono::steady_clock::time_point window_start_{};
  mutable int logged_in_window_ = 0;
  mutable std::uint64_t suppressed_ = 0;
};

}  // namespace troupe::transport
