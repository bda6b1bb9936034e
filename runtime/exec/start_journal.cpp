#include "runtime/exec/start_journal.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::exec {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// An id a line can hold: no blanks or control characters, bounded.
bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 255) return false;
  for (unsigned char c : id)
    if (c <= ' ' || c == 0x7f) return false;
  return true;
}

std::string line(const std::string& job_id, std::uint32_t attempt) {
  return std::to_string(attempt) + " " + job_id + "\n";
}

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot write " + path);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

start_journal::start_journal(std::string output_dir, std::size_t rotate_bytes)
    : dir_(std::move(output_dir)), path_(dir_ + "/starts"), rotate_bytes_(rotate_bytes) {
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("cannot create directory " + dir_);
  int rfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) {
    if (errno != ENOENT) throw_errno("cannot open " + path_);
    // First open by a version with the journal: the records of earlier
    // versions come along, then the file exists for good.
    migrate_started_files();
    rewrite_locked();
    return;
  }
  std::string text;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(rfd);
      errno = e;
      throw_errno("cannot read " + path_);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(rfd);
  load(text);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) throw_errno("cannot open " + path_);
  auto fail = [this](const std::string& what) {
    int e = errno;
    ::close(fd_);  // no destructor runs for a constructor that throws
    errno = e;
    throw_errno(what);
  };
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("cannot stat " + path_);
  // A torn last line: its batch was never acknowledged, so no job of it
  // ran. Cut it off before anything is appended after it.
  if (static_cast<std::uint64_t>(st.st_size) != size_ &&
      (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 || ::fdatasync(fd_) != 0))
    fail("cannot cut the torn last line of " + path_);
}

start_journal::~start_journal() {
  if (fd_ >= 0) ::close(fd_);
}

void start_journal::load(const std::string& text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;  // torn: cut off by the constructor
    const char* first = text.data() + pos;
    const char* last = text.data() + end;
    std::uint32_t attempt = 0;
    auto [p, ec] = std::from_chars(first, last, attempt);
    std::string id = (ec == std::errc() && p < last && *p == ' ') ? std::string(p + 1, last) : std::string();
    if (!valid_id(id))
      throw std::runtime_error("corrupt start journal " + path_ + ": malformed record at byte " + std::to_string(pos) +
                               " (move the file away to start anyway: jobs this node started before may then run again)");
    live_[std::move(id)] = attempt;
    pos = end + 1;
  }
  size_ = pos;
}

void start_journal::migrate_started_files() {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string id = it->path().filename().string();
    std::ifstream f(it->path() / "started");
    std::uint32_t attempt = 0;
    if (valid_id(id) && f >> attempt) live_[id] = attempt;
  }
  if (ec) throw std::runtime_error("cannot list " + dir_ + ": " + ec.message());
}

void start_journal::rewrite_locked() {
  // Until it has all succeeded, appends go nowhere but into a new rewrite
  // (a failure after the rename would leave fd_ on the replaced file).
  needs_rewrite_ = true;
  const std::string tmp = path_ + ".tmp";
  std::string text;
  for (const auto& [id, attempt] : live_) text += line(id, attempt);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("cannot create " + tmp);
  try {
    write_all(fd, text, tmp);
    if (::fdatasync(fd) != 0) throw_errno("cannot sync " + tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw_errno("cannot close " + tmp);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) throw_errno("cannot rename " + tmp + " to " + path_);
  int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw_errno("cannot open directory " + dir_);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) throw_errno("cannot sync directory " + dir_);
  int fresh = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fresh < 0) throw_errno("cannot open " + path_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fresh;
  size_ = text.size();
  needs_rewrite_ = false;
}

void start_journal::append_locked(const std::string& lines) {
  // Rewritten rather than grown without end: once it is past rotate_bytes
  // and at least half of it is records no longer needed.
  if (needs_rewrite_ || (size_ > rotate_bytes_ && size_ > 2 * live_.size() * 48)) rewrite_locked();
  try {
    write_all(fd_, lines, path_);
    // fdatasync: the data and the new size, not the times.
    if (::fdatasync(fd_) != 0) throw_errno("cannot sync " + path_);
  } catch (...) {
    // Part of the lines may be in the file, and after a failed sync its
    // cached state says nothing: the next append starts a new file from
    // what is held here (without these records: their jobs do not run).
    needs_rewrite_ = true;
    throw;
  }
  size_ += lines.size();
}

void start_journal::record(std::vector<start_record>& records) {
  std::string lines;
  for (auto& r : records) {
    r.error = valid_id(r.job_id) ? "" : "job id '" + r.job_id + "' cannot be recorded (blank or control characters)";
    if (r.error.empty()) lines += line(r.job_id, r.attempt);
  }
  if (lines.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  try {
    append_locked(lines);
  } catch (const std::exception& e) {
    for (auto& r : records)
      if (r.error.empty()) r.error = e.what();
    return;
  }
  for (const auto& r : records)
    if (r.error.empty()) live_[r.job_id] = r.attempt;
}

void start_journal::record(const std::string& job_id, std::uint32_t attempt) {
  std::vector<start_record> one{{job_id, attempt, {}}};
  record(one);
  if (!one[0].error.empty()) throw std::runtime_error(one[0].error);
}

std::optional<std::uint32_t> start_journal::recorded(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(job_id);
  if (it == live_.end()) return std::nullopt;
  return it->second;
}

void start_journal::settle(const std::string& job_id, std::optional<std::uint32_t> live_attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(job_id);
  if (it != live_.end() && live_attempt != it->second) live_.erase(it);
}

void start_journal::retain(const std::function<bool(const std::string&, std::uint32_t)>& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = live_.begin(); it != live_.end();) {
    if (keep(it->first, it->second))
      ++it;
    else
      it = live_.erase(it);
  }
}

std::size_t start_journal::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

}  // namespace troupe::exec
