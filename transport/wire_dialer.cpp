#include "transport/wire_dialer.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "config/host_port.hpp"
#include "config/timeouts.hpp"
#include "runtime/common/log.hpp"
#include "transport/wire_format.hpp"

namespace troupe::transport {

using clock = std::chrono::steady_clock;

namespace {
constexpr std::uint32_t reading = EPOLLIN | EPOLLRDHUP;
constexpr std::uint32_t writing = EPOLLIN | EPOLLRDHUP | EPOLLOUT;
}  // namespace

wire_link::wire_link(wire_dialer* dialer, std::uint64_t to, std::string address)
    : dialer_(dialer), to_(to), address_(std::move(address)), since_(clock::now()) {}

bool wire_link::over() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_ == state::over;
}

void wire_link::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != state::over) end_locked(nullptr);
}

void wire_link::end_locked(const char* why) {
  state_ = state::over;
  out_.clear();
  if (why) {
    // A link that carried appends and ended is news (the peer stopped or
    // refused this node); one that never got ready is an older peer or a
    // closed port, retried every wire_redial_wait, so said at debug.
    if (was_ready_)
      TLOG(info, "wire_dialer") << "appends to node " << to_ << " back on the gRPC stream: " << why;
    else
      TLOG(debug, "wire_dialer") << "no raft wire to node " << to_ << " at " << address_ << ": " << why;
  }
  dialer_->epoll_.wake();  // its thread closes the socket
}

bool wire_link::send(const raftpb::RaftBatch& batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != state::ready) return false;
  const auto now = clock::now();
  if (!out_.empty()) {
    if (now - since_ > config::raft_call_deadline) {
      // The peer has not taken a byte for that long (stopped, or a link that
      // holds them): the stream starts afresh, as raft_stream does.
      end_locked("its socket took nothing for 5 s");
      return false;
    }
    if (out_.size() > max_queued_bytes) return true;  // dropped: Raft retransmits
    wire::append_frame(out_, batch);
    return true;  // the dialer's thread writes it when the socket drains
  }
  wire::append_frame(out_, batch);
  const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(out_.size())) {
    out_.clear();
    return true;
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    end_locked(std::strerror(errno));
    return false;  // not sent: the caller uses the stream
  }
  out_.erase(0, n > 0 ? static_cast<std::size_t>(n) : 0);
  since_ = now;
  epoll_event ev{};
  ev.events = writing;
  ev.data.fd = fd_;
  ::epoll_ctl(dialer_->epoll_.fd(), EPOLL_CTL_MOD, fd_, &ev);
  return true;
}

wire_dialer::wire_dialer() {
  thread_ = std::thread([this] { run(); });
}

wire_dialer::~wire_dialer() {
  stopping_.store(true);
  epoll_.wake();
  thread_.join();
  // Every link ends here, those never connected too: none may wake this
  // dialer afterwards (close() of an ended link does nothing).
  for (auto& [fd, l] : links_) {
    std::lock_guard<std::mutex> lock(l->mutex_);
    l->state_ = wire_link::state::over;
    l->fd_ = -1;
    ::close(fd);
  }
  for (auto& l : new_) {
    std::lock_guard<std::mutex> lock(l->mutex_);
    l->state_ = wire_link::state::over;
  }
}

std::shared_ptr<wire_link> wire_dialer::dial(std::uint64_t to, const std::string& address) {
  std::shared_ptr<wire_link> l(new wire_link(this, to, address));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    new_.push_back(l);
  }
  epoll_.wake();
  return l;
}

// On the dialer's thread: resolving may block it, never the caller.
void wire_dialer::connect(const std::shared_ptr<wire_link>& l) {
  std::lock_guard<std::mutex> lock(l->mutex_);
  if (l->state_ != wire_link::state::resolving) return;  // closed before it started
  std::pair<std::string, std::uint16_t> host_port;
  try {
    host_port = config::split_host_port(l->address_);
  } catch (const std::exception& e) {
    return l->end_locked(e.what());
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host_port.first.c_str(), std::to_string(host_port.second).c_str(), &hints, &res);
      rc != 0 || !res)
    return l->end_locked(rc ? ::gai_strerror(rc) : "no address");
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return l->end_locked(std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  const int e = errno;
  ::freeaddrinfo(res);
  if (rc != 0 && e != EINPROGRESS) {
    ::close(fd);
    return l->end_locked(std::strerror(e));
  }
  l->fd_ = fd;
  l->state_ = wire_link::state::connecting;
  l->since_ = clock::now();
  links_.emplace(fd, l);
  epoll_event ev{};
  ev.events = writing;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_ADD, fd, &ev);
}

void wire_dialer::on_event(const std::shared_ptr<wire_link>& l, std::uint32_t events) {
  std::lock_guard<std::mutex> lock(l->mutex_);
  using state = wire_link::state;
  switch (l->state_) {
    case state::connecting: {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(l->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return l->end_locked(std::strerror(err));
      if (!(events & EPOLLOUT)) return;
      if (::send(l->fd_, wire::hello.data(), wire::hello.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(wire::hello.size()))
        return l->end_locked("could not send the hello");
      l->state_ = state::greeting;
      epoll_event ev{};
      ev.events = reading;
      ev.data.fd = l->fd_;
      ::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, l->fd_, &ev);
      return;
    }
    case state::greeting: {
      char buf[wire::hello.size()];
      const ssize_t n = ::recv(l->fd_, buf, wire::hello.size() - l->head_.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) return l->end_locked("the peer closed the connection at the hello (a version without the wire)");
      l->head_.append(buf, static_cast<std::size_t>(n));
      if (l->head_.compare(0, l->head_.size(), wire::hello.substr(0, l->head_.size())) != 0)
        return l->end_locked(l->head_.compare(0, 4, wire::hello.substr(0, 4)) == 0
                                 ? "the peer speaks another wire version"
                                 : "the peer answered the hello with something else (a version without the wire)");
      if (l->head_.size() < wire::hello.size()) return;
      l->state_ = state::ready;
      l->was_ready_ = true;
      TLOG(info, "wire_dialer") << "appends to node " << l->to_ << " go over the raft wire (" << l->address_ << ")";
      return;
    }
    case state::ready: {
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        char buf[256];
        const ssize_t n = ::recv(l->fd_, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
          return l->end_locked(n == 0 ? "the peer closed the connection" : std::strerror(errno));
        // The listener sends nothing after its hello; anything else is ignored.
      }
      if ((events & EPOLLOUT) && !l->out_.empty()) {
        const ssize_t n = ::send(l->fd_, l->out_.data(), l->out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return l->end_locked(std::strerror(errno));
        if (n > 0) {
          l->out_.erase(0, static_cast<std::size_t>(n));
          l->since_ = clock::now();
        }
      }
      if (l->out_.empty()) {
        epoll_event ev{};
        ev.events = reading;
        ev.data.fd = l->fd_;
        ::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, l->fd_, &ev);
      }
      return;
    }
    case state::resolving:
    case state::over: return;
  }
}

void wire_dialer::close_over() {
  const auto now = clock::now();
  for (auto it = links_.begin(); it != links_.end();) {
    auto& l = *it->second;
    std::lock_guard<std::mutex> lock(l.mutex_);
    if (l.state_ != wire_link::state::over && l.state_ != wire_link::state::ready &&
        now - l.since_ > config::raft_call_deadline)
      l.end_locked("no answer to the hello within 5 s");
    if (l.state_ != wire_link::state::over) {
      ++it;
      continue;
    }
    ::epoll_ctl(epoll_.fd(), EPOLL_CTL_DEL, it->first, nullptr);
    ::close(it->first);
    l.fd_ = -1;
    it = links_.erase(it);
  }
}

void wire_dialer::run() {
  ::prctl(PR_SET_NAME, "wire_dialer");
  epoll_event events[16];
  while (!stopping_.load()) {
    // A timer only while a link is on its way (its greeting has a deadline)
    // or has bytes waiting; an idle node's dialer sleeps.
    int timeout_ms = -1;
    for (const auto& [fd, l] : links_) {
      std::lock_guard<std::mutex> lock(l->mutex_);
      if (l->state_ != wire_link::state::ready || !l->out_.empty()) timeout_ms = 1000;
    }
    const int n = ::epoll_wait(epoll_.fd(), events, 16, timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (epoll_.consume_wake(events[i])) continue;
      const int fd = events[i].data.fd;
      if (auto it = links_.find(fd); it != links_.end()) on_event(it->second, events[i].events);
    }
    std::vector<std::shared_ptr<wire_link>> fresh;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fresh.swap(new_);
    }
    for (const auto& l : fresh) connect(l);
    close_over();
  }
}

}  // namespace troupe::transport
