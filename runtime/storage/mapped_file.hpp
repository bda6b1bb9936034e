// A whole file mapped read-only, for the snapshot the node keeps for lagging
// followers (state_files.hpp, map_snapshot_data).
//
// A page of a mapping the kernel cannot read (the disk returns an I/O error,
// or something truncated the file behind the node's back) raises SIGBUS at
// whatever instruction touched it, in code that has no way to report it: the
// node died with "Bus error" and nothing naming the file. The first mapping
// installs a SIGBUS handler that, for an address inside a live mapping,
// writes the file's path and the offset to stderr, then lets the signal kill
// the process as before. Fail-stop is what the node must do: it cannot
// answer for a snapshot it cannot read, and at its next start it reads the
// file whole and checks its CRC. Other SIGBUSes go to the previous handler.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace troupe::storage {

class mapped_file {
 public:
  // Maps the whole of path (at least one byte); throws storage_error naming
  // it when it cannot be opened, is empty or cannot be mapped.
  static std::shared_ptr<const mapped_file> map(const std::string& path);
  ~mapped_file();
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  std::string_view bytes() const { return {static_cast<const char*>(addr_), len_}; }

 private:
  mapped_file(void* addr, std::size_t len, int slot) : addr_(addr), len_(len), slot_(slot) {}

  void* addr_;
  std::size_t len_;
  int slot_;  // in the SIGBUS handler's table; -1 when it was full
};

}  // namespace troupe::storage
