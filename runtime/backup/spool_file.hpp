// A backup's bytes on their way from the job table to the client
// (AdminService.SaveSnapshot): an anonymous file in the node's data
// directory. The table hands its snapshot over a piece at a time (a few ms
// of its time each, instead of one stop of most of a second at a million
// jobs), and the pieces wait here, in the page cache rather than on the
// node's heap, until the gateway streams them. The file has no name
// (O_TMPFILE, or unlinked at once where that is not supported): nothing is
// left behind when the node dies, and the space is freed with the last
// holder of the object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/storage/posix_file.hpp"

namespace troupe::backup {

class spool_file {
 public:
  // Throws storage_error (with the directory and errno text).
  explicit spool_file(const std::string& dir);

  // Both throw storage_error.
  void append(std::string_view bytes);
  // Exactly n bytes at offset; offset + n must be within size().
  void read(std::uint64_t offset, char* out, std::size_t n) const;

  std::uint64_t size() const { return size_; }

 private:
  std::string where_;  // for messages: "<dir>/(backup spool)"
  storage::unique_fd fd_;
  std::uint64_t size_ = 0;
};

}  // namespace troupe::backup
