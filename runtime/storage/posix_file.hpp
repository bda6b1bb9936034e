// Thin POSIX wrappers that turn errors into storage_error with the path and
// errno text, plus an owning file descriptor. Internal to troupe_storage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::storage {

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
  unique_fd& operator=(unique_fd&& o) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();

  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

// Throws storage_error("<what> <path>: <strerror(errno)>").
[[noreturn]] void throw_errno(const std::string& what, const std::string& path);

unique_fd open_file(const std::string& path, int flags, unsigned mode = 0644);
unique_fd open_directory(const std::string& path);
std::uint64_t file_size(int fd, const std::string& path);
// Loops over short writes and EINTR.
void pwrite_all(int fd, std::string_view bytes, std::uint64_t offset, const std::string& path);
// Reads exactly n bytes at offset; throws if the file is shorter.
void pread_exact(int fd, char* out, std::size_t n, std::uint64_t offset, const std::string& path);
std::string read_whole_file(int fd, const std::string& path);
void fdatasync_or_throw(int fd, const std::string& path);
void fsync_or_throw(int fd, const std::string& path);
void fsync_directory(const std::string& dir);
// mkdir -p; newly created directories are fsynced into their parents.
void ensure_directory(const std::string& dir);
bool path_exists(const std::string& path);
std::string parent_directory(const std::string& path);

}  // namespace troupe::storage
