// The sending side of the raft wire (transport/wire_format.hpp): one TCP
// connection per peer, to the peer's wire port, that carries the AppendEntries
// family in place of the gRPC stream once the peer has answered the hello.
// peer_transport writes a batch straight into the socket from its own thread
// (no hand-off); what the socket does not take at once waits in the link and
// the dialer's thread writes it when the socket drains.
//
// A link that is not ready (connecting, greeting, failed, refused) says so
// and its caller uses the gRPC stream instead: the wire only ever replaces
// the stream, so an older peer, a firewall, a peer's restart or a refusal
// costs nothing but the speed-up. Raft tolerates the reordering of a switch.
//
// With [tls] a link is mutual TLS (transport/wire_tls.hpp) and carries only
// once the peer's certificate proved it the node dialled.
//
// One thread ("wire_dialer") connects, greets, drains and notices the end of
// every link, and is the only one that closes their sockets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "raft.pb.h"
#include "config/node_config.hpp"
#include "runtime/common/wakeable_epoll.hpp"
#include "transport/wire_tls.hpp"

namespace troupe::transport {

class wire_dialer;

class wire_link {
 public:
  // Any thread. True: `batch` went on the wire (or was dropped because the
  // link is backed up: Raft retransmits). False: the link does not carry
  // (not ready yet, or over): send it another way.
  bool send(const raftpb::RaftBatch& batch);
  bool over() const;
  void close();  // ends the link (this node stops, the peer left or moved)
  std::uint64_t to() const { return to_; }
  const std::string& address() const { return address_; }

  // What may wait in a link for a slow socket before batches are dropped.
  static constexpr std::size_t max_queued_bytes = 64 << 20;

 private:
  friend class wire_dialer;
  enum class state { resolving, connecting, handshaking, greeting, ready, over };
  wire_link(wire_dialer* dialer, std::uint64_t to, std::string address);
  void end_locked(const std::string& why);  // mutex_ held: over, and the dialer closes the socket; why "": closed by its owner

  wire_dialer* dialer_;
  const std::uint64_t to_;
  const std::string address_;
  mutable std::mutex mutex_;
  state state_ = state::resolving;
  int fd_ = -1;
  std::unique_ptr<wire_stream> io_;  // once connected
  std::string head_;  // the peer's hello, as it arrives
  std::string out_;   // bytes the socket has not taken yet
  std::chrono::steady_clock::time_point since_;  // out_ waiting since; or the greeting's start
  bool was_ready_ = false;
};

class wire_dialer {
 public:
  // With tls.enabled(), every link is TLS with those files; throws
  // std::runtime_error when OpenSSL refuses them.
  explicit wire_dialer(const config::tls_options& tls);
  ~wire_dialer();  // closes every link
  wire_dialer(const wire_dialer&) = delete;
  wire_dialer& operator=(const wire_dialer&) = delete;

  // A new link to node `to` at `address` (host:port of its raft wire),
  // connecting in the background.
  std::shared_ptr<wire_link> dial(std::uint64_t to, const std::string& address);

 private:
  friend class wire_link;
  void run();
  void connect(const std::shared_ptr<wire_link>& l);
  void on_event(const std::shared_ptr<wire_link>& l, std::uint32_t events);
  void close_over();  // closes the sockets of links that are over
  void send_hello(wire_link& l);
  void watch(int fd, bool write);  // what epoll reports for a link's socket

  std::unique_ptr<wire_tls> tls_;
  wakeable_epoll epoll_{"wire_dialer"};
  std::mutex mutex_;
  std::vector<std::shared_ptr<wire_link>> new_;  // dialled, not yet connecting
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  // The dialer thread's alone: each link by its socket.
  std::map<int, std::shared_ptr<wire_link>> links_;
};

}  // namespace troupe::transport
