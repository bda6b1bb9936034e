// Helpers shared by the exec tests: scratch output directories and job specs.
#pragma once

#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <set>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "runtime/exec/job.hpp"

namespace troupe::exec::test {

// A fresh directory under $TMPDIR (or /tmp), removed when the test ends.
class scratch_dir {
 public:
  scratch_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/troupe-exec-test-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~scratch_dir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) {
      // Leftover scratch space is harmless; never fail a test on cleanup.
    }
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline job_spec make_spec(const scratch_dir& dir, std::string job_id, std::string command,
                          std::chrono::seconds timeout = std::chrono::seconds(20)) {
  job_spec s;
  s.job_id = std::move(job_id);
  s.node_id = 7;
  s.command = std::move(command);
  s.image = "local/busybox:latest";
  s.timeout = timeout;
  s.output_dir = dir.path() + "/outputs";
  return s;
}

// Names in directory `path` (without . and ..); empty when it cannot be read.
inline std::set<std::string> entries_of(const std::string& path) {
  std::set<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.insert(e->d_name);
  ::closedir(d);
  return names;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace troupe::exec::test
