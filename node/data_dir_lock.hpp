// One data dir, one process (issue 11: the same node id started twice ran
// twice on the same ports and data dir, and the two replaced each other's
// committed entries). The node takes an exclusive flock on <data_dir>/LOCK
// before it reads or writes anything else there and holds it until exit; the
// kernel drops it when the process dies, however it dies, so there is never a
// stale lock to clean up.
#pragma once

#include <stdexcept>
#include <string>

namespace troupe::node {

struct data_dir_in_use : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class data_dir_lock {
 public:
  // Creates data_dir if needed, locks <data_dir>/LOCK and writes this
  // process's pid into it. Throws data_dir_in_use ("data dir X is in use by
  // pid N (another troupe-node); refusing to start") when another process
  // holds it, std::runtime_error for any other failure (with errno's text).
  explicit data_dir_lock(const std::string& data_dir);
  ~data_dir_lock();
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace troupe::node
