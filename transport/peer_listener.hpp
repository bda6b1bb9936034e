// The raft wire's listener ([listen] wire): one thread ("peer_listener")
// owns the listening sockets and every inbound wire connection. It answers a
// dialer's hello (transport/wire_format.hpp), reads frames, admits each
// batch as RaftService.Stream admits one (who, then what:
// transport/peer_validation.hpp) and steps its messages into raft_node, as
// the gRPC server's threads would. With [tls] each connection is mutual TLS
// (transport/wire_tls.hpp) and may carry only messages from the node its
// certificate names, as peer_identity rules for gRPC. A port of its own: a listener that waits
// for a client's first bytes cannot share gRPC's port, whose synchronous
// clients need the server's SETTINGS before they speak (docs/BENCHMARKS.md,
// thirty-ninth round).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/node_config.hpp"
#include "runtime/common/wakeable_epoll.hpp"
#include "transport/interface.hpp"
#include "transport/peer_validation.hpp"
#include "transport/wire_tls.hpp"

namespace troupe::transport {

class peer_listener {
 public:
  // Binds cfg.wire_listen (every address it resolves to) and loads cfg.tls;
  // throws std::runtime_error with the reason when it cannot.
  peer_listener(const config::node_config& cfg, raft_inbox raft, peer_rules rules);
  ~peer_listener();  // stop()
  peer_listener(const peer_listener&) = delete;
  peer_listener& operator=(const peer_listener&) = delete;

  // Starts accepting.
  void start();

  // Stops accepting and closes every wire connection (their dialers fall
  // back to their gRPC streams). Idempotent.
  void stop();

  std::uint16_t port() const { return port_; }

 private:
  struct conn;
  void run();
  void accept_from(int listen_fd);
  void on_ready(conn& c);
  void handshake(conn& c);
  void greet(conn& c);
  void read_frames(conn& c);
  void close_conn(int fd);

  raft_inbox raft_;
  peer_rules rules_;
  std::string listen_;
  std::unique_ptr<wire_tls> tls_;  // with [tls]
  std::vector<int> listen_fds_;
  std::uint16_t port_ = 0;
  wakeable_epoll epoll_{"peer_listener"};  // woken by stop()
  std::map<int, std::unique_ptr<conn>> conns_;  // the thread's alone
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace troupe::transport
