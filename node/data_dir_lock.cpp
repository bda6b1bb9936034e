#include "node/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace troupe::node {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// The holder's pid as it wrote it; empty when unreadable (it may be between
// taking the lock and writing the pid).
std::string read_holder(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return {};
  std::string s(buf, static_cast<std::size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char c : s)
    if (c < '0' || c > '9') return {};
  return s;
}

}  // namespace

data_dir_lock::data_dir_lock(const std::string& data_dir) : path_(data_dir + "/LOCK") {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) throw std::runtime_error("cannot create data dir " + data_dir + ": " + ec.message());
  // Not O_TRUNC: a second process must not wipe the holder's pid before it
  // knows whether it gets the lock.
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(errno_text("cannot open", path_));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_holder(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw data_dir_in_use("data dir " + data_dir + " is in use by pid " + (holder.empty() ? "?" : holder) +
                            " (another troupe-node); refusing to start");
    }
    errno = err;
    throw std::runtime_error(errno_text("cannot lock", path_));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const std::string msg = errno_text("cannot write pid to", path_);
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(msg);
  }
}

data_dir_lock::~data_dir_lock() {
  // The file stays (removing it would race with a process that just opened
  // it and would then lock an unlinked inode); closing releases the lock.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace troupe::node
