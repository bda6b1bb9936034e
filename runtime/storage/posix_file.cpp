#include "runtime/storage/posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/storage/storage_error.hpp"

namespace troupe::storage {

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

unique_fd::~unique_fd() {
  if (fd_ >= 0) ::close(fd_);
}

void throw_errno(const std::string& what, const std::string& path) {
  const int err = errno;
  throw storage_error(what + " " + path + ": " + std::strerror(err));
}

unique_fd open_file(const std::string& path, int flags, unsigned mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("cannot open", path);
  return unique_fd(fd);
}

unique_fd open_directory(const std::string& path) {
  return open_file(path, O_RDONLY | O_DIRECTORY);
}

std::uint64_t file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno("cannot stat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

void pwrite_all(int fd, std::string_view bytes, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
}

void pread_exact(int fd, char* out, std::size_t n, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read", path);
    }
    if (got == 0)
      throw storage_error("unexpected end of file " + path + " at byte offset " + std::to_string(offset + done) +
                          " (wanted " + std::to_string(n) + " bytes from offset " + std::to_string(offset) + ")");
    done += static_cast<std::size_t>(got);
  }
}

std::string read_whole_file(int fd, const std::string& path) {
  std::string out(file_size(fd, path), '\0');
  pread_exact(fd, out.data(), out.size(), 0, path);
  return out;
}

void fdatasync_or_throw(int fd, const std::string& path) {
  // No retry on failure: after a failed fsync the page cache state is unknown
  // (the "fsyncgate" lesson), so the caller must treat the store as broken.
  if (::fdatasync(fd) != 0) throw_errno("fdatasync failed on", path);
}

void fsync_or_throw(int fd, const std::string& path) {
  if (::fsync(fd) != 0) throw_errno("fsync failed on", path);
}

void fsync_directory(const std::string& dir) {
  unique_fd fd = open_directory(dir);
  fsync_or_throw(fd.get(), dir);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void ensure_directory(const std::string& dir) {
  if (dir.empty()) throw storage_error("ensure_directory: empty path");
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw storage_error("not a directory: " + dir);
    return;
  }
  const std::string parent = parent_directory(dir);
  if (parent != dir) ensure_directory(parent);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("cannot create directory", dir);
  fsync_directory(parent);
}

}  // namespace troupe::storage
