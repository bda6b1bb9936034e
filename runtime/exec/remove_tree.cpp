#include "runtime/exec/remove_tree.hpp"

#include <cerrno>
#include <cstdio>  // RENAME_NOREPLACE
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace troupe::exec {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

namespace {

// Empties the directory open as `fd`. Subdirectories deeper than
// flatten_depth are moved up into `top` (under a fresh name) and removed
// from there in a later pass, so no more than flatten_depth descriptors are
// open at once however deep the job nested them.
constexpr int flatten_depth = 32;

void empty_dir(int fd, int top, int depth, const std::string& where, unsigned long& moved) {
  for (;;) {
    int dup = ::dup(fd);
    if (dup < 0) throw_errno("cannot read directory " + where);
    DIR* d = ::fdopendir(dup);
    if (!d) {
      ::close(dup);
      throw_errno("cannot read directory " + where);
    }
    ::rewinddir(d);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    ::closedir(d);
    if (names.empty()) return;
    for (const auto& name : names) {
      struct stat st;
      if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        throw_errno("cannot inspect " + where + "/" + name);
      }
      if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(fd, name.c_str(), 0) != 0 && errno != ENOENT) throw_errno("cannot remove " + where + "/" + name);
        continue;
      }
      if (depth >= flatten_depth) {
        // A name the job may have taken already is skipped, not replaced.
        int rc = -1;
        for (int tries = 0; tries < 100 && rc != 0; ++tries) {
          std::string to = ".troupe-flattened-" + std::to_string(++moved);
          rc = static_cast<int>(::syscall(SYS_renameat2, fd, name.c_str(), top, to.c_str(), RENAME_NOREPLACE));
          if (rc != 0 && errno != EEXIST) break;
        }
        if (rc != 0) throw_errno("cannot move up " + where + "/" + name);
        continue;
      }
      int sub = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0 && errno == EACCES) {
        // A job may leave a directory it made unreadable (only matters when
        // the node is not root): it is the node's to open again.
        ::fchmodat(fd, name.c_str(), 0700, 0);
        sub = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (sub < 0) throw_errno("cannot open " + where + "/" + name);
      try {
        empty_dir(sub, top, depth + 1, where + "/" + name, moved);
      } catch (...) {
        ::close(sub);
        throw;
      }
      ::close(sub);
      if (::unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        throw_errno("cannot remove " + where + "/" + name);
    }
  }
}

}  // namespace

void remove_tree(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    if (errno == ENOTDIR || errno == ELOOP) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove " + path);
      return;
    }
    throw_errno("cannot open " + path);
  }
  unsigned long moved = 0;
  try {
    empty_dir(fd, fd, 0, path, moved);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove " + path);
}

void empty_tree(int dir_fd, const std::string& where) {
  unsigned long moved = 0;
  empty_dir(dir_fd, dir_fd, 0, where, moved);
}

}  // namespace troupe::exec
