#include "runtime/common/wakeable_epoll.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace troupe {

namespace {
constexpr std::uint64_t wake_tag = ~0ull;
}

wakeable_epoll::wakeable_epoll(const char* owner) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error(std::string(owner) + ": epoll_create1: " + std::strerror(errno));
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    const int e = errno;
    ::close(epoll_fd_);
    throw std::runtime_error(std::string(owner) + ": eventfd: " + std::strerror(e));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = wake_tag;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

wakeable_epoll::~wakeable_epoll() {
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void wakeable_epoll::wake() {
  const std::uint64_t one = 1;
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

bool wakeable_epoll::consume_wake(const epoll_event& ev) {
  if (ev.data.u64 != wake_tag) return false;
  std::uint64_t count;  // one read resets an eventfd's counter
  [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  return true;
}

}  // namespace troupe
