#include "config/data_dir.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace troupe::config {

std::string prove_writable_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ec.message();
  if (!fs::is_directory(dir, ec)) return std::strerror(ENOTDIR);

  // Root ignores permission bits, so only a real write tells whether the
  // file system (read-only mounts, full disks, odd ownership) lets us in.
  const std::string probe = (fs::path(dir) / (".troupe-write-probe-" + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::strerror(errno);
  static const char payload[] = "troupe";
  std::string failure;
  if (::write(fd, payload, sizeof payload) != static_cast<ssize_t>(sizeof payload))
    failure = errno != 0 ? std::strerror(errno) : "short write";
  else if (::fsync(fd) != 0)
    failure = std::strerror(errno);
  if (::close(fd) != 0 && failure.empty()) failure = std::strerror(errno);
  if (::unlink(probe.c_str()) != 0 && failure.empty()) failure = std::strerror(errno);
  return failure;
}

}  // namespace troupe::config
