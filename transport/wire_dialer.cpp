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
  if (state_ != state::over) end_locked("");
}

void wire_link::end_locked(const std::string& why) {
  state_ = state::over;
  out_.clear();
  if (!why.empty()) {
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
  const auto r = io_->write(out_.data(), out_.size());
  if (r.st == wire_stream::status::ok && r.bytes == out_.size()) {
    out_.clear();
    return true;
  }
  if (r.st == wire_stream::status::failed || r.st == wire_stream::status::closed) {
    end_locked(io_->error());
    return false;  // not sent: the caller uses the stream
  }
  // The rest waits for the dialer's thread: when the socket takes bytes, or
  // (a TLS write that waits on a read) on the next read event, since the
  // socket is always watched for reading.
  out_.erase(0, r.bytes);
  since_ = now;
  dialer_->watch(fd_, r.st == wire_stream::status::ok || io_->wants_write());
  return true;
}

wire_dialer::wire_dialer(const config::tls_options& tls)
    : tls_(tls.enabled() ? std::make_unique<wire_tls>(tls) : nullptr) {
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
    l->io_.reset();
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
  l->io_ = std::make_unique<wire_stream>(fd, tls_.get(), false);
  l->state_ = wire_link::state::connecting;
  l->since_ = clock::now();
  links_.emplace(fd, l);
  epoll_event ev{};
  ev.events = writing;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_ADD, fd, &ev);
}

void wire_dialer::watch(int fd, bool write) {
  epoll_event ev{};
  ev.events = write ? writing : reading;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_.fd(), EPOLL_CTL_MOD, fd, &ev);
}

// The 5 bytes go into a fresh connection's empty buffer whole, or not at all.
void wire_dialer::send_hello(wire_link& l) {
  const auto r = l.io_->write(wire::hello.data(), wire::hello.size());
  if (r.st != wire_stream::status::ok || r.bytes != wire::hello.size())
    return l.end_locked("could not send the hello");
  l.state_ = wire_link::state::greeting;
  watch(l.fd_, false);
}

void wire_dialer::on_event(const std::shared_ptr<wire_link>& l, std::uint32_t events) {
  std::lock_guard<std::mutex> lock(l->mutex_);
  using state = wire_link::state;
  using status = wire_stream::status;
  switch (l->state_) {
    case state::connecting: {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(l->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return l->end_locked(std::strerror(err));
      if (!(events & EPOLLOUT)) return;
      l->state_ = state::handshaking;
      [[fallthrough]];
    }
    case state::handshaking: {
      const status st = l->io_->handshake();
      if (st == status::again) return watch(l->fd_, l->io_->wants_write());
      if (st != status::ok) return l->end_locked("TLS handshake: " + l->io_->error());
      if (tls_ && l->io_->certified_node() != l->to_)
        return l->end_locked("the certificate that answered is not node-" + std::to_string(l->to_) + "'s");
      return send_hello(*l);
    }
    case state::greeting: {
      char buf[wire::hello.size()];
      const auto r = l->io_->read(buf, wire::hello.size() - l->head_.size());
      if (r.st == status::again) return;
      if (r.st != status::ok) return l->end_locked("the peer closed the connection at the hello (a version without the wire)");
      l->head_.append(buf, r.bytes);
      if (l->head_.compare(0, l->head_.size(), wire::hello.substr(0, l->head_.size())) != 0)
        return l->end_locked(l->head_.compare(0, 4, wire::hello.substr(0, 4)) == 0
                                 ? "the peer speaks another wire version"
                                 : "the peer answered the hello with something else (a version without the wire)");
      if (l->head_.size() < wire::hello.size()) return;
      l->state_ = state::ready;
      l->was_ready_ = true;
      TLOG(info, "wire_dialer") << "appends to node " << l->to_ << " go over the raft wire (" << l->address_
                                << (tls_ ? ", TLS" : "") << ")";
      return;
    }
    case state::ready: {
      // The listener sends nothing after its hello (TLS records aside); a
      // read notices the end, and lets a TLS write that waited on it go on.
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        char buf[256];
        for (int reads = 0; reads < 16; ++reads) {
          const auto r = l->io_->read(buf, sizeof buf);
          if (r.st == status::again) break;
          if (r.st == status::closed) return l->end_locked("the peer closed the connection");
          if (r.st == status::failed) return l->end_locked(l->io_->error());
        }
      }
      bool wait_to_write = false;
      if (!l->out_.empty()) {
        const auto r = l->io_->write(l->out_.data(), l->out_.size());
        if (r.st == status::failed || r.st == status::closed) return l->end_locked(l->io_->error());
        if (r.bytes > 0) {
          l->out_.erase(0, r.bytes);
          l->since_ = clock::now();
        }
        wait_to_write = !l->out_.empty() && (r.st == status::ok || l->io_->wants_write());
      }
      watch(l->fd_, wait_to_write);
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
    l.io_.reset();
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
