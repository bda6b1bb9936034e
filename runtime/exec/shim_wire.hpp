// Sending one request of shim_protocol.hpp: the node to the fork server, and
// the server on to an idle shim, in the same form. Header-only and libc
// only: troupe-job-shim is a static executable of its own.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <sys/socket.h>

#include "runtime/exec/shim_protocol.hpp"

namespace troupe::exec::shim {

// Sends `request` (its 4-byte length, then the body) with the five
// descriptors on its first byte (SCM_RIGHTS). False when the peer is gone
// (EPIPE, ECONNRESET; never a SIGPIPE): after a part of a request, the peer
// cannot make sense of the rest, so the caller gives the socket up.
inline bool send_request(int sock, std::string_view request, const int (&fds)[first_free_fd]) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  iovec iov{const_cast<char*>(request.data()), request.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  std::size_t done = 0;
  while (done < request.size()) {
    ssize_t n = done == 0 ? ::sendmsg(sock, &msg, MSG_NOSIGNAL)
                          : ::send(sock, request.data() + done, request.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace troupe::exec::shim
