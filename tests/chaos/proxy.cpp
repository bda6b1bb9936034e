#include "tests/chaos/proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace troupe::chaos {

// Both sockets of one proxied connection. Either pump shuts both down when its
// side ends, so the other pump wakes up and ends too; the last owner closes.
struct fault_proxy::conn {
  int client = -1;  // accepted from the dialing node
  int server = -1;  // connected to the destination node
  void shutdown_both() {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(server, SHUT_RDWR);
  }
  ~conn() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
};

namespace {

constexpr int poll_ms = 50;  // how quickly a pump notices a mode change or stop

int listen_loopback(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("proxy listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int connect_to(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(std::stoi(host_port.substr(colon + 1))));
  if (::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &a.sin_addr) != 1) return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    auto w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

fault_proxy::fault_proxy(std::size_t nodes) : n_(nodes), destinations_(nodes) {
  links_.resize(n_ * n_);
  for (std::uint64_t i = 1; i <= n_; ++i)
    for (std::uint64_t j = 1; j <= n_; ++j) {
      if (i == j) continue;
      auto l = std::make_unique<link>();
      l->from = i;
      l->to = j;
      l->listen_fd = listen_loopback(l->port);
      links_[(i - 1) * n_ + (j - 1)] = std::move(l);
    }
}

fault_proxy::~fault_proxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& l : links_)
    if (l) {
      reset_connections(*l);
      ::close(l->listen_fd);
    }
  join_finished_pumps(true);
}

fault_proxy::link& fault_proxy::at(std::uint64_t from, std::uint64_t to) const {
  if (from == 0 || to == 0 || from > n_ || to > n_ || from == to)
    throw std::out_of_range("no proxy link " + std::to_string(from) + "->" + std::to_string(to));
  return *links_[(from - 1) * n_ + (to - 1)];
}

std::string fault_proxy::address(std::uint64_t from, std::uint64_t to) const {
  return "127.0.0.1:" + std::to_string(at(from, to).port);
}

void fault_proxy::set_destination(std::uint64_t to, const std::string& host_port) {
  destinations_.at(to - 1) = host_port;
}

void fault_proxy::start() { acceptor_ = std::thread([this] { accept_loop(); }); }

void fault_proxy::set_mode(std::uint64_t from, std::uint64_t to, link_mode m) {
  auto& l = at(from, to);
  l.mode = static_cast<int>(m);
  if (m == link_mode::cut) reset_connections(l);
}

void fault_proxy::set_delay(std::uint64_t from, std::uint64_t to, int ms) { at(from, to).delay_ms = ms; }

void fault_proxy::set_node_mode(std::uint64_t node, link_mode m) {
  for (std::uint64_t o = 1; o <= n_; ++o)
    if (o != node) {
      set_mode(node, o, m);
      set_mode(o, node, m);
    }
}

void fault_proxy::set_node_delay(std::uint64_t node, int ms) {
  for (std::uint64_t o = 1; o <= n_; ++o)
    if (o != node) {
      set_delay(node, o, ms);
      set_delay(o, node, ms);
    }
}

void fault_proxy::split(const std::vector<std::uint64_t>& side) {
  auto in = [&](std::uint64_t id) { return std::find(side.begin(), side.end(), id) != side.end(); };
  for (std::uint64_t i = 1; i <= n_; ++i)
    for (std::uint64_t j = 1; j <= n_; ++j)
      if (i != j && in(i) != in(j)) set_mode(i, j, link_mode::cut);
}

void fault_proxy::heal() {
  for (auto& l : links_)
    if (l) {
      l->mode = static_cast<int>(link_mode::pass);
      l->delay_ms = 0;
    }
}

void fault_proxy::reset_connections(link& l) {
  std::lock_guard<std::mutex> g(l.mu);
  for (auto& w : l.conns)
    if (auto c = w.lock()) c->shutdown_both();
  l.conns.clear();
}

void fault_proxy::accept_loop() {
  std::vector<pollfd> fds;
  std::vector<link*> owners;
  for (auto& l : links_)
    if (l) {
      fds.push_back(pollfd{l->listen_fd, POLLIN, 0});
      owners.push_back(l.get());
    }
  while (!stop_) {
    int r = ::poll(fds.data(), fds.size(), poll_ms);
    if (r < 0 && errno != EINTR) break;
    for (std::size_t i = 0; r > 0 && i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      int c = ::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) open(*owners[i], c);
    }
    join_finished_pumps(false);
  }
}

void fault_proxy::open(link& l, int client_fd) {
  ++accepted_;
  // A cut link refuses by closing at once, as a reset would; so does a
  // destination that is down (the dialing node sees the same as without proxy).
  if (static_cast<link_mode>(l.mode.load()) == link_mode::cut) {
    ::close(client_fd);
    return;
  }
  int server_fd = connect_to(destinations_[l.to - 1]);
  if (server_fd < 0) {
    ::close(client_fd);
    return;
  }
  int one = 1;
  ::setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto c = std::make_shared<conn>();
  c->client = client_fd;
  c->server = server_fd;
  {
    std::lock_guard<std::mutex> g(l.mu);
    l.conns.erase(std::remove_if(l.conns.begin(), l.conns.end(), [](auto& w) { return w.expired(); }),
                  l.conns.end());
    l.conns.push_back(c);
  }
  std::lock_guard<std::mutex> g(threads_mu_);
  for (bool forward : {true, false}) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    pumps_.push_back(pump_thread{std::thread([this, &l, c, forward, done] {
                                   pump(l, c, forward);
                                   *done = true;
                                 }),
                                 done});
  }
}

// Moves bytes one way until either side closes, the link is cut or the proxy
// stops. While stalled it reads nothing, so the sender's buffers fill up.
void fault_proxy::pump(link& l, std::shared_ptr<conn> c, bool forward) {
  int src = forward ? c->client : c->server;
  int dst = forward ? c->server : c->client;
  std::vector<char> buf(64 * 1024);
  while (!stop_) {
    auto mode = static_cast<link_mode>(l.mode.load());
    if (mode == link_mode::cut) break;
    if (mode == link_mode::stall) {
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
      continue;
    }
    pollfd p{src, POLLIN, 0};
    int r = ::poll(&p, 1, poll_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (r == 0) continue;
    auto n = ::recv(src, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    // Bounded: a delay is at most a few hundred ms, checked in poll-sized steps
    // so a cut or stop still ends the pump quickly.
    for (int waited = 0, d = l.delay_ms.load(); waited < d && !stop_; waited += poll_ms)
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(poll_ms, d - waited)));
    // A link stalled while this chunk was in hand holds it until healed or cut.
    for (int i = 0; static_cast<link_mode>(l.mode.load()) == link_mode::stall && !stop_ && i < 1000000; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    if (static_cast<link_mode>(l.mode.load()) == link_mode::cut) break;
    if (!send_all(dst, buf.data(), static_cast<std::size_t>(n))) break;
  }
  c->shutdown_both();
}

void fault_proxy::join_finished_pumps(bool all) {
  std::vector<pump_thread> finished;
  {
    std::lock_guard<std::mutex> g(threads_mu_);
    auto it = std::partition(pumps_.begin(), pumps_.end(), [all](const pump_thread& p) { return !all && !*p.done; });
    std::move(it, pumps_.end(), std::back_inserter(finished));
    pumps_.erase(it, pumps_.end());
  }
  for (auto& p : finished) p.thread.join();
}

}  // namespace troupe::chaos
