// Helpers shared by the exec tests: scratch output directories and job specs.
#pragma once

#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <set>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <thread>

#include "runtime/exec/backend.hpp"
#include "runtime/exec/job.hpp"
#include "runtime/exec/process_backend.hpp"

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

// Backend options for a test: jobs run in <scratch>/work. The scratch dir is
// made enterable (not listable) so the job user can reach its directory, and
// <scratch>/shared is world-writable: where jobs and the test meet.
inline process_options options_in(const scratch_dir& dir) {
  ::chmod(dir.path().c_str(), 0711);
  const std::string shared = dir.path() + "/shared";
  ::mkdir(shared.c_str(), 01777);
  ::chmod(shared.c_str(), 01777);
  process_options o;
  o.work_dir = dir.path() + "/work";
  return o;
}

// Polls check() every 10 ms until it holds or `limit` seconds passed.
template <class F>
bool eventually(F check, double limit = 5.0) {
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    if (check()) return true;
    if (seconds_since(t0) >= limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

inline bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Collects the results of started jobs by id; waits (bounded) for them.
class results {
 public:
  done_callback for_job(const std::string& id) {
    return [this, id](job_result r) {
      std::lock_guard<std::mutex> lock(mutex_);
      got_[id] = std::move(r);
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return got_.size() >= n; });
  }
  job_result get(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return got_.at(id);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return got_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, job_result> got_;
};

}  // namespace troupe::exec::test
