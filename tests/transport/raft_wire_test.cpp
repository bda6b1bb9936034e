// The raft wire on loopback: its framing; peer_listener, which answers the
// hello, steps admitted batches into a fake raft_node and refuses what it
// must; and wire_dialer's links, which carry only once the peer has answered
// the hello.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <caf/all.hpp>
#include <grpcpp/grpcpp.h>

#include "protocol/raft_codec.hpp"
#include "tests/exec/test_support.hpp"
#include "transport/peer_listener.hpp"
#include "transport/peer_services.hpp"
#include "transport/wire_dialer.hpp"
#include "transport/wire_format.hpp"

using namespace troupe;
using transport::wire::frame_reader;
using troupe::exec::test::eventually;

namespace {

std::atomic<int> stepped{0};

raft_inbox::behavior_type fake_raft() {
  return {
      [](step_atom, const raft::message&) { ++stepped; },
      [](propose_atom, const logpb::Command&) -> caf::result<proposal_result> { return proposal_result{}; },
  };
}

// A loopback port nobody listens on (the kernel's pick, released at once).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

config::node_config make_config(std::uint64_t id, int port) {
  config::node_config c;
  c.id = id;
  c.wire_listen = "127.0.0.1:" + std::to_string(free_port());
  c.members = {{1, "127.0.0.1:1", "", ""}, {2, "127.0.0.1:" + std::to_string(port), "", ""}, {3, "127.0.0.1:2", "", ""}};
  return c;
}

raftpb::RaftBatch heartbeats(int n, std::uint64_t from = 1) {
  raftpb::RaftBatch b;
  for (int i = 0; i < n; ++i) {
    raft::message m;
    m.type = raft::msg_type::heartbeat;
    m.from = from;
    m.to = 2;
    m.term = 3;
    codec::to_proto(m, *b.add_messages());
  }
  return b;
}

std::string frame(const raftpb::RaftBatch& b) {
  std::string out;
  transport::wire::append_frame(out, b);
  return out;
}

// Node 2's raft wire listener, raft_node played by fake_raft.
struct node2 {
  caf::actor_system_config acfg;
  caf::actor_system sys{acfg};
  config::node_config cfg;
  std::shared_ptr<transport::member_directory> members;
  raft_inbox raft = sys.spawn(fake_raft);
  std::unique_ptr<transport::peer_listener> listener;
  int port = 0;

  explicit node2(config::tls_options tls = {}) : cfg(make_config(2, 0)) {
    cfg.tls = std::move(tls);
    members = std::make_shared<transport::member_directory>(cfg);
    listener = std::make_unique<transport::peer_listener>(cfg, raft, transport::peer_rules::from(cfg, members));
    port = listener->port();
    listener->start();
  }
  ~node2() { listener->stop(); }
};

// Certificates from scripts/make-certs.sh: the cluster CA, node-1, -2, -3
// and -7 (of the CA, not in the configuration) and a client's.
struct certificates {
  std::string dir;
  certificates() {
    char tmpl[] = "/tmp/troupe-wire-tls-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    const std::string cmd = "bash " TROUPE_SOURCE_DIR "/scripts/make-certs.sh " + dir +
                            " 1 2 3 7 --client ci >/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  ~certificates() { std::filesystem::remove_all(dir); }
  config::tls_options of(const std::string& name) const {
    return {dir + "/" + name + ".crt", dir + "/" + name + ".key", dir + "/ca.crt"};
  }
};

// A raw TCP client of node 2's port.
struct raw_client {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  explicit raw_client(int port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    timeval tv{5, 0};  // every read in these tests is bounded
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~raw_client() { ::close(fd); }
  // Says hello as a dialer does; the listener must answer with its own.
  void greet() {
    write(std::string(transport::wire::hello));
    CHECK(read(transport::wire::hello.size()) == transport::wire::hello);
  }
  void write(const std::string& s) { REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size())); }
  std::string read(std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }
  // Whether the other end closed the connection (EOF or reset within 5 s of
  // its last byte; what comes before, such as gRPC's own SETTINGS, is skipped).
  bool closed() {
    char buf[4096];
    for (int i = 0; i < 64; ++i) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r == 0) return true;
      if (r < 0) return errno == ECONNRESET;  // closed with our bytes unread
    }
    return false;
  }
};

}  // namespace

TEST_CASE("frames are cut from a stream fed in any pieces") {
  const std::string bytes = frame(heartbeats(1)) + frame(heartbeats(3)) + frame(raftpb::RaftBatch{});
  frame_reader r(1 << 20);
  std::vector<std::size_t> sizes;
  std::string_view f;
  for (char c : bytes) {  // one byte at a time: every split point
    r.feed(&c, 1);
    while (r.next(f) == frame_reader::result::frame) {
      raftpb::RaftBatch b;
      REQUIRE(b.ParseFromArray(f.data(), static_cast<int>(f.size())));
      sizes.push_back(static_cast<std::size_t>(b.messages_size()));
    }
  }
  CHECK(sizes == std::vector<std::size_t>{1, 3, 0});

  frame_reader small(8);
  const std::string big = frame(heartbeats(2));
  small.feed(big.data(), big.size());
  CHECK(small.next(f) == frame_reader::result::too_big);
  CHECK(small.announced() == big.size() - transport::wire::length_bytes);
}

TEST_CASE("a wire connection's batches reach raft_node, in order of arrival") {
  node2 n;
  stepped = 0;
  raw_client c(n.port);
  c.greet();
  c.write(frame(heartbeats(2)) + frame(heartbeats(1)));
  CHECK(eventually([] { return stepped.load() == 3; }));
  // A frame split across writes is stepped once it is whole.
  const std::string f = frame(heartbeats(4));
  c.write(f.substr(0, 3));
  c.write(f.substr(3));
  CHECK(eventually([] { return stepped.load() == 7; }));
}

TEST_CASE("the listener refuses what it must, and a bad batch alone is dropped") {
  node2 n;
  stepped = 0;
  SUBCASE("another wire version: answered with ours, then closed") {
    raw_client c(n.port);
    c.write("TRPW\x02");
    CHECK(c.read(5) == transport::wire::hello);
    CHECK(c.closed());
  }
  SUBCASE("a frame that is not a RaftBatch closes the connection") {
    raw_client c(n.port);
    c.greet();
    c.write(std::string("\0\0\0\4\xff\xff\xff\xff", 8));
    CHECK(c.closed());
  }
  SUBCASE("a frame over the peer message limit closes the connection before it is read") {
    raw_client c(n.port);
    c.greet();
    c.write(std::string("\x7f\xff\xff\xff", 4));
    CHECK(c.closed());
  }
  SUBCASE("a sender outside the configuration loses the connection") {
    raw_client c(n.port);
    c.greet();
    c.write(frame(heartbeats(1, 7)));
    CHECK(c.closed());
  }
  SUBCASE("an invalid batch is dropped, the next one is stepped") {
    raw_client c(n.port);
    c.greet();
    auto bad = heartbeats(1);
    bad.mutable_messages(0)->set_type(static_cast<std::uint32_t>(raft::msg_type::vote));  // not this family
    c.write(frame(bad) + frame(heartbeats(1)));
    CHECK(eventually([] { return stepped.load() == 1; }));
  }
  SUBCASE("a connection that does not open with the hello is closed") {
    raw_client c(n.port);
    c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(c.closed());
  }
  CHECK(stepped.load() <= 1);
}

TEST_CASE("a wire link carries once the peer answered, and not to a peer without the wire") {
  transport::wire_dialer dialer{config::tls_options{}};
  SUBCASE("a node with the wire") {
    node2 n;
    stepped = 0;
    auto link = dialer.dial(2, "127.0.0.1:" + std::to_string(n.port));
    CHECK(eventually([&] { return link->send(heartbeats(1)); }));
    CHECK(eventually([] { return stepped.load() == 1; }));
    for (int i = 0; i < 100; ++i) CHECK(link->send(heartbeats(2)));
    CHECK(eventually([] { return stepped.load() == 201; }));
    // The peer stops: the link ends, and its owner goes back to the stream.
    n.listener->stop();
    CHECK(eventually([&] { return link->over(); }));
    CHECK_FALSE(link->send(heartbeats(1)));
  }
  SUBCASE("a gRPC port (a wire address that names one) never answers the hello") {
    caf::actor_system_config acfg;
    caf::actor_system sys{acfg};
    auto cfg = make_config(2, 0);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    auto services = add_peer_services(b, sys, cfg, peer_inbox{sys.spawn(fake_raft), {}, {}}, nullptr);
    auto server = b.BuildAndStart();
    REQUIRE(port != 0);
    auto link = dialer.dial(2, "127.0.0.1:" + std::to_string(port));
    CHECK(eventually([&] { return link->over(); }, 10.0));
    CHECK_FALSE(link->send(heartbeats(1)));
    server->Shutdown();
  }
  SUBCASE("nothing listens") {
    auto link = dialer.dial(2, "127.0.0.1:" + std::to_string(free_port()));
    CHECK(eventually([&] { return link->over(); }));
  }
}

TEST_CASE("with [tls] a link is mutual TLS between certified members, each speaking for itself") {
  certificates certs;
  node2 n(certs.of("node-2"));
  const std::string at = "127.0.0.1:" + std::to_string(n.port);
  stepped = 0;
  SUBCASE("node-1 to node-2: carries, and node-1 speaks only for itself") {
    transport::wire_dialer dialer(certs.of("node-1"));
    auto link = dialer.dial(2, at);
    CHECK(eventually([&] { return link->send(heartbeats(1)); }));
    for (int i = 0; i < 100; ++i) CHECK(link->send(heartbeats(2)));
    CHECK(eventually([] { return stepped.load() == 201; }));
    // A message that claims node 3 over node-1's connection ends it.
    CHECK(link->send(heartbeats(1, 3)));
    CHECK(eventually([&] { return link->over(); }));
    CHECK(stepped.load() == 201);
  }
  SUBCASE("the certificate that answers must be the dialled node's") {
    transport::wire_dialer dialer(certs.of("node-1"));
    auto link = dialer.dial(3, at);  // node 2 answers where node 3 was expected
    CHECK(eventually([&] { return link->over(); }));
  }
  SUBCASE("no certificate, a client's, or a node's outside the configuration: refused") {
    transport::wire_dialer plain{config::tls_options{}};
    transport::wire_dialer client(certs.of("client-ci"));
    transport::wire_dialer stranger(certs.of("node-7"));
    auto a = plain.dial(2, at);
    auto b = client.dial(2, at);
    auto c = stranger.dial(2, at);
    CHECK(eventually([&] { return a->over() && b->over() && c->over(); }, 10.0));
    raw_client raw(n.port);
    raw.write(std::string(transport::wire::hello) + frame(heartbeats(1)));
    CHECK(raw.closed());
  }
  CHECK(stepped.load() <= 201);
}

TEST_CASE("a TLS dialer refuses a listener whose certificate is of another CA") {
  certificates ours, theirs;
  node2 n(theirs.of("node-2"));
  transport::wire_dialer dialer(ours.of("node-1"));
  auto link = dialer.dial(2, "127.0.0.1:" + std::to_string(n.port));
  CHECK(eventually([&] { return link->over(); }));
}
