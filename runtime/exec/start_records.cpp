#include "runtime/exec/start_records.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::exec {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// temp file + rename, no sync (the caller syncs the whole batch). Returns
// the error, "" on success.
std::string write_record(const start_record& r) {
  if (r.job_id.empty() || r.job_id.find('/') != std::string::npos || r.job_id == "." || r.job_id == "..")
    return "job id '" + r.job_id + "' cannot name an output directory";
  const std::string dir = r.output_dir + "/" + r.job_id;
  if (::mkdir(r.output_dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_text("cannot create directory " + r.output_dir);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno_text("cannot create directory " + dir);
  const std::string tmp = dir + "/started.tmp", final_path = dir + "/started";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_text("cannot create " + tmp);
  const std::string content = std::to_string(r.attempt) + "\n";
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string e = errno_text("cannot write " + tmp);
      ::close(fd);
      return e;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return errno_text("cannot close " + tmp);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return errno_text("cannot rename to " + final_path);
  return "";
}

}  // namespace

void record_starts(std::vector<start_record>& records) {
  // output_dir -> the records written there, synced together.
  std::map<std::string, std::vector<start_record*>> by_dir;
  for (auto& r : records) {
    r.error = write_record(r);
    if (r.error.empty()) by_dir[r.output_dir].push_back(&r);
  }
  for (auto& [dir, group] : by_dir) {
    // syncfs reports writeback errors of its file system (Linux >= 5.8), so
    // a success means the files, their contents and the renames are on disk.
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    std::string error;
    if (fd < 0) {
      error = errno_text("cannot open directory " + dir);
    } else {
      if (::syncfs(fd) != 0) error = errno_text("cannot sync the file system of " + dir);
      ::close(fd);
    }
    if (!error.empty())
      for (auto* r : group) r->error = error;
  }
}

}  // namespace troupe::exec
