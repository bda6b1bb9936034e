#include "transport/peer_listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <tuple>

#include <caf/send.hpp>

#include "config/host_port.hpp"
#include "config/timeouts.hpp"
#include "protocol/raft_codec.hpp"
#include "runtime/common/log.hpp"
#include "transport/wire_format.hpp"

namespace troupe::transport {

using clock = std::chrono::steady_clock;

struct peer_listener::conn {
  int fd = -1;
  int listen_fd = -1;
  std::string peer;       // for the log
  std::unique_ptr<wire_stream> io;
  bool secured = false;   // past the TLS handshake (at once without [tls])
  std::optional<std::uint64_t> node;  // with [tls]: the node its certificate names
  std::string head;       // the dialer's hello, as it arrives
  bool wire = false;      // past the hello
  clock::time_point deadline;  // for the hello
  wire::frame_reader frames;
  raftpb::RaftBatch batch;
  conn(std::uint64_t max_frame) : frames(max_frame) {}
};

namespace {

std::string describe(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(sa);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    port = ntohs(a.sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(sa);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    port = ntohs(a.sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

std::runtime_error cannot_listen(const std::string& listen, const std::string& why) {
  return std::runtime_error("cannot listen for the raft wire on " + listen + ": " + why);
}

// Binds and listens on every address `listen` ("host:port", "[v6]:port")
// resolves to, as gRPC's listener does: a wildcard IPv6 address also
// takes IPv4 (dual stack), and the IPv4 wildcard after it is then skipped.
std::vector<int> bind_all(const std::string& listen, std::uint16_t& port) {
  std::string host;
  try {
    std::tie(host, port) = config::split_host_port(listen);
  } catch (const std::exception& e) {
    throw cannot_listen(listen, e.what());
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    throw cannot_listen(listen, ::gai_strerror(rc));
  std::vector<int> fds;
  std::string error;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    sockaddr_storage sa{};
    std::memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int one = 1;
    // Not SO_REUSEPORT: a second node on the same port must fail to start
    // (grpc_gateway.cpp), not share the connections.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) {
      const auto& a6 = reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr;
      int v6only = IN6_IS_ADDR_UNSPECIFIED(&a6) ? 0 : 1;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      const int e = errno;
      ::close(fd);
      if (e == EADDRINUSE && !fds.empty() && ai->ai_family == AF_INET) continue;  // taken by the dual stack
      error = std::strerror(e);
      for (int f : fds) ::close(f);
      ::freeaddrinfo(res);
      throw cannot_listen(listen, error);
    }
    fds.push_back(fd);
  }
  ::freeaddrinfo(res);
  if (fds.empty()) throw cannot_listen(listen, error.empty() ? "no address" : error);
  return fds;
}

}  // namespace

peer_listener::peer_listener(const config::node_config& cfg, raft_inbox raft, peer_rules rules)
    : raft_(std::move(raft)),
      rules_(std::move(rules)),
      listen_(cfg.wire_listen),
      tls_(cfg.tls.enabled() ? std::make_unique<wire_tls>(cfg.tls) : nullptr) {
  listen_fds_ = bind_all(listen_, port_);
  epoll_event ev{};
  ev.events = EPOLLIN;
  for (int fd : listen_fds_) {
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.fd(), EPOLL_CTL_ADD, fd, &ev);
  }
}

peer_listener::~peer_listener() { stop(); }

void peer_listener::start() {
  thread_ = std::thread([this] { run(); });
}

void peer_listener::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) {
    epoll_.wake();
    thread_.join();
  }
  for (auto& [fd, c] : conns_) ::close(fd);
  conns_.clear();
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
}

void peer_listener::run() {
  ::prctl(PR_SET_NAME, "peer_listener");
  epoll_event events[64];
  while (!stopping_.load()) {
    // Only a connection that has not said hello yet needs a timer; otherwise
    // the thread sleeps until something arrives.
    int timeout_ms = -1;
    for (const auto& [fd, c] : conns_)
      if (!c->wire) {
        timeout_ms = 1000;
        break;
      }
    const int n = ::epoll_wait(epoll_.fd(), events, 64, timeout_ms);
    for (int i = 0; i < n && !stopping_.load(); ++i) {
      if (epoll_.consume_wake(events[i])) break;
      const int fd = events[i].data.fd;
      if (std::find(listen_fds_.begin(), listen_fds_.end(), fd) != listen_fds_.end()) {
        accept_from(fd);
        continue;
      }
      if (auto it = conns_.find(fd); it != conns_.end()) on_ready(*it->second);
    }
    // A connection that has not said hello by its deadline is closed.
    const auto now = clock::now();
    std::vector<int> silent;
    for (const auto& [fd, c] : conns_)
      if (!c->wire && now >= c->deadline) silent.push_back(fd);
    for (int fd : silent) close_conn(fd);
  }
}

void peer_listener::accept_from(int listen_fd) {
  for (;;) {
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // The connection stays in the backlog and the socket readable: wait
        // a little rather than spin on it.
        TLOG(warn, "peer_listener") << "accept on " << listen_ << ": " << std::strerror(errno);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return;  // EAGAIN: all taken
    }
    auto c = std::make_unique<conn>(rules_.max_message_bytes);
    c->fd = fd;
    c->listen_fd = listen_fd;
    c->peer = describe(sa);
    c->io = std::make_unique<wire_stream>(fd, tls_.get(), true);
    c->deadline = clock::now() + config::wire_hello_wait;  // the TLS handshake's too
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.fd(), EPOLL_CTL_ADD, fd, &ev);
    conns_.emplace(fd, std::move(c));
  }
}

void peer_listener::close_conn(int fd) {
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_DEL, fd, nullptr);
  conns_.erase(fd);  // its TLS session first
  ::close(fd);
}

void peer_listener::on_ready(conn& c) {
  if (c.wire)
    read_frames(c);
  else if (c.secured)
    greet(c);
  else
    handshake(c);
}

// With [tls]: the handshake, then who the peer is. Without, nothing to do.
void peer_listener::handshake(conn& c) {
  const auto st = c.io->handshake();
  if (st == wire_stream::status::again) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (c.io->wants_write() ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, c.fd, &ev);
    return;
  }
  if (st != wire_stream::status::ok) {
    note_refused(c.peer, "RaftWire", "TLS handshake: " + c.io->error());
    return close_conn(c.fd);
  }
  if (tls_) {
    c.node = c.io->certified_node();
    if (!c.node) {
      note_refused(c.peer, "RaftWire", "no node certificate: the raft wire is for cluster members only");
      return close_conn(c.fd);
    }
    // A node of this CA outside the configuration (removed, not added yet)
    // loses the connection and meets its gRPC stream's refusal.
    if (!rules_.is_member(*c.node)) {
      note_refused(c.peer, "RaftWire", "node-" + std::to_string(*c.node) + " is not in this node's configuration");
      return close_conn(c.fd);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, c.fd, &ev);
  }
  c.secured = true;
  greet(c);  // the hello may have come with the handshake's last flight
}

// Reads the dialer's hello: the magic, then the version.
void peer_listener::greet(conn& c) {
  char buf[wire::hello.size()];
  const auto r = c.io->read(buf, wire::hello.size() - c.head.size());
  if (r.st == wire_stream::status::again) return;
  if (r.st != wire_stream::status::ok) return close_conn(c.fd);
  c.head.append(buf, r.bytes);
  const std::size_t magic = wire::hello.size() - 1;  // "TRPW", then the version
  const std::size_t same = std::min(c.head.size(), magic);
  if (c.head.compare(0, same, wire::hello.substr(0, same)) != 0) {
    note_refused(c.peer, "RaftWire", "a connection that does not open with the raft wire's hello");
    close_conn(c.fd);
    return;
  }
  if (c.head.size() < wire::hello.size()) return;
  // A hello: ours answers it either way. The 5 bytes go into a fresh
  // connection's empty buffer whole; if not, the connection ends now rather
  // than at the dialer's 5 s wait for the answer (it keeps its gRPC stream
  // and dials again), as the dialer does with its own hello.
  const auto sent = c.io->write(wire::hello.data(), wire::hello.size());
  if (sent.st != wire_stream::status::ok || sent.bytes != wire::hello.size()) {
    TLOG(info, "peer_listener") << "wire connection from " << c.peer << ": could not answer its hello ("
                                << (sent.st == wire_stream::status::again ? "the socket took nothing" : c.io->error())
                                << "): closed (it keeps its gRPC stream)";
    close_conn(c.fd);
    return;
  }
  if (c.head != wire::hello) {
    TLOG(info, "peer_listener") << "wire connection from " << c.peer << " speaks version "
                                << static_cast<int>(static_cast<unsigned char>(c.head.back())) << ", this node "
                                << static_cast<int>(wire::hello.back()) << ": closed (it keeps its gRPC stream)";
    close_conn(c.fd);
    return;
  }
  c.wire = true;
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (c.io->pending()) read_frames(c);  // frames decrypted with the hello
}

void peer_listener::read_frames(conn& c) {
  char buf[64 * 1024];
  // At most 1 MiB per wake-up: a peer that never pauses must not keep the
  // thread from the others' connections (epoll reports this one again). TLS
  // holds what it decrypted beyond that where epoll cannot see it: read on.
  for (int reads = 0; reads < 16 || c.io->pending(); ++reads) {
    const auto r = c.io->read(buf, sizeof buf);
    if (r.st == wire_stream::status::again) return;
    if (r.st != wire_stream::status::ok) return close_conn(c.fd);  // the dialer closed (or reset) it
    c.frames.feed(buf, r.bytes);
    std::string_view frame;
    for (;;) {
      const auto r = c.frames.next(frame);
      if (r == wire::frame_reader::result::need_more) break;
      if (r == wire::frame_reader::result::too_big) {
        note_refused(c.peer, "RaftWire", "a frame of " + std::to_string(c.frames.announced()) +
                                             " bytes, over the limit of " + std::to_string(rules_.max_message_bytes));
        close_conn(c.fd);
        return;
      }
      c.batch.Clear();
      if (!c.batch.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
        note_refused(c.peer, "RaftWire", "a frame that is not a RaftBatch");
        close_conn(c.fd);
        return;
      }
      // A sender outside the configuration loses the connection: it falls
      // back to its gRPC stream, whose refusal tells its operator.
      if (auto stranger = check_raft_senders(c.batch, rules_); !stranger.empty()) {
        note_refused(c.peer, "RaftWire", stranger);
        close_conn(c.fd);
        return;
      }
      // With [tls], a member speaks only for itself.
      if (c.node)
        for (const auto& m : c.batch.messages())
          if (m.from() != *c.node) {
            note_refused(c.peer, "RaftWire", "a message claims node " + std::to_string(m.from()) +
                                                 ", the certificate says node " + std::to_string(*c.node));
            close_conn(c.fd);
            return;
          }
      if (auto why = check_raft_batch(c.batch, codec::raft_rpc::append_entries, rules_); !why.empty()) {
        note_refused(c.peer, "RaftWire", why);  // dropped alone, as RaftService.Stream drops it
        continue;
      }
      for (const auto& m : c.batch.messages()) caf::anon_send(raft_, step_atom::value, codec::from_proto(m));
    }
  }
}

}  // namespace troupe::transport
