#pragma once
// An epoll set with an eventfd in it that any thread can ring. The loop
// threads (the process executor's loop, the raft wire's dialer and listener)
// sleep in epoll_wait with no timeout while idle, so new work and stop() must
// be able to wake them.
#include <sys/epoll.h>

namespace troupe {

class wakeable_epoll {
 public:
  // Throws std::runtime_error naming `owner` when epoll or the eventfd cannot
  // be created.
  explicit wakeable_epoll(const char* owner);
  ~wakeable_epoll();
  wakeable_epoll(const wakeable_epoll&) = delete;
  wakeable_epoll& operator=(const wakeable_epoll&) = delete;

  // The epoll fd, for epoll_ctl and epoll_wait.
  int fd() const { return epoll_fd_; }
  // Any thread: the next (or current) epoll_wait returns.
  void wake();
  // The loop's thread, for each event epoll_wait returned: true when it is the
  // wake-up, which is then reset. Its epoll_data is ~0, which no fd stored in
  // data.fd (upper half zero) and no tag the callers use can equal.
  bool consume_wake(const epoll_event& ev);

 private:
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
};

}  // namespace troupe
