#include "runtime/backup/spool_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "runtime/storage/storage_error.hpp"

namespace troupe::backup {

spool_file::spool_file(const std::string& dir) : where_(dir + "/(backup spool)") {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a named file, unlinked before use.
    std::string name = dir + "/.backup-spool-XXXXXX";
    std::vector<char> path(name.begin(), name.end());
    path.push_back('\0');
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.data());
  }
  if (fd < 0) storage::throw_errno("cannot create the backup spool file in", dir);
  fd_ = storage::unique_fd(fd);
}

void spool_file::append(std::string_view bytes) {
  storage::pwrite_all(fd_.get(), bytes, size_, where_);
  size_ += bytes.size();
}

void spool_file::read(std::uint64_t offset, char* out, std::size_t n) const {
  if (offset > size_ || n > size_ - offset)
    throw storage::storage_error("read past the end of " + where_);
  storage::pread_exact(fd_.get(), out, n, offset, where_);
}

}  // namespace troupe::backup
