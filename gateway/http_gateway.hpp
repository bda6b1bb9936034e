// http_gateway: the REST API and the dashboard on the node's http listen
// address (cpp-httplib, its own thread pool). Handlers translate HTTP into
// actor requests and the answers into JSON; they never read Raft state
// directly. Writes sent to a follower are forwarded to the leader's REST API.
#pragma once

#include <memory>
#include <thread>

#include <caf/actor_system.hpp>

#include "config/node_config.hpp"
#include "gateway/grpc_gateway.hpp"
#include "gateway/peer_clients.hpp"

namespace httplib {
class Server;
}

namespace troupe {

class http_server {
 public:
  // Binds the listen address (throws std::runtime_error if it cannot) and
  // serves on a thread of its own until destroyed.
  http_server(caf::actor_system& sys, config::node_config cfg, node_handles nodes,
              std::shared_ptr<const peer_clients> peers);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

 private:
  void routes();
  caf::actor_system& sys_;
  config::node_config cfg_;
  node_handles nodes_;
  std::shared_ptr<const peer_clients> peers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace troupe
