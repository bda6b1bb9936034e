#include "runtime/exec/output_store.hpp"
#include "runtime/exec/spawn.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::exec {

namespace {

bool disk_full(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG; }

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  if (disk_full(errno)) {
    std::string reason = std::strerror(errno);
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
    throw output_full_error("job output could not be stored: " + reason + " (" + path + ")");
  }
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("cannot create directory", path);
}

// The job's directory and the output directory above it, for the file at
// `path` (<output_dir>/<job_id>/<name>): made with the first file a job
// stores, not for every job.
void make_parent_dirs(const std::string& path) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return;
  if (errno != ENOENT) throw_errno("cannot create directory", dir);
  make_dir(dir.substr(0, dir.rfind('/')));
  make_dir(dir);
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open directory", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw_errno("cannot fsync directory", path);
}

// Replaces dir/name with `content` atomically and durably: temp file, fsync,
// rename, fsync of the directory. Readers see the old file or the whole new one.
void write_durably(const std::string& dir, const std::string& name, std::string_view content) {
  std::string tmp = dir + "/" + name + ".tmp";
  std::string final_path = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create", tmp);
  try {
    write_all(fd, content, tmp);
    if (::fsync(fd) != 0) throw_errno("cannot fsync", tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw_errno("cannot close", tmp);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) throw_errno("cannot rename to", final_path);
  fsync_dir(dir);
}

// The job's own directory; the id must not reach outside output_dir.
std::string job_dir(const std::string& output_dir, const std::string& job_id) {
  if (job_id.empty() || job_id.find('/') != std::string::npos || job_id == "." || job_id == "..")
    throw std::runtime_error("job id '" + job_id + "' cannot name an output directory");
  return output_dir + "/" + job_id;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

output_sink::~output_sink() {
  if (fd_ >= 0) ::close(fd_);
  if (null_fd_ >= 0) ::close(null_fd_);
}

void output_sink::open(const std::string& path, std::size_t cap_bytes, std::size_t inline_limit) {
  // A file an earlier attempt left is emptied now (this attempt may write
  // nothing); a missing one is created with the first byte.
  fd_ = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd_ < 0 && errno != ENOENT) throw_errno("cannot open", path);
  path_ = path;
  cap_ = cap_bytes;
  inline_limit_ = inline_limit;
}

void output_sink::create_file() {
  if (fd_ >= 0) return;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == ENOENT) {
    make_parent_dirs(path_);  // the job's first stored byte
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fd_ < 0) throw_errno("cannot create", path_);
}

void output_sink::write(std::string_view data) {
  if (inline_.size() < inline_limit_) inline_.append(data.substr(0, inline_limit_ - inline_.size()));
  if (total_ < cap_ && !data.empty()) {
    std::size_t room = static_cast<std::size_t>(cap_ - total_);
    create_file();
    write_all(fd_, data.substr(0, room), path_);
  }
  total_ += data.size();
}

bool output_sink::drain(int pipe_fd) {
  constexpr int max_rounds = 16;            // then back to the event loop (level-triggered: it comes back)
  constexpr std::size_t splice_chunk = 1 << 20;
  char buf[16 * 1024];
  for (int round = 0; round < max_rounds; ++round) {
    ssize_t n;
    if (inline_.size() < inline_limit_ || (total_ < cap_ && !splice_file_) || (total_ >= cap_ && !splice_null_)) {
      // Through memory: the inline copy, or no splice possible.
      std::size_t want = sizeof buf;
      if (inline_.size() < inline_limit_) want = std::min(want, inline_limit_ - inline_.size());
      n = ::read(pipe_fd, buf, want);
      if (n > 0) {
        write(std::string_view(buf, static_cast<std::size_t>(n)));
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN;  // any other read error: the stream is over
    }
    if (total_ < cap_) {
      std::size_t room = static_cast<std::size_t>(std::min<std::uint64_t>(cap_ - total_, splice_chunk));
      create_file();  // already there unless inline_limit is 0
      n = ::splice(pipe_fd, nullptr, fd_, nullptr, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINVAL) {
        splice_file_ = false;
        continue;
      }
      if (n < 0 && errno != EINTR && errno != EAGAIN) throw_errno("cannot write", path_);
    } else {
      if (null_fd_ < 0) {
        null_fd_ = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null_fd_ < 0) {
          splice_null_ = false;
          continue;
        }
      }
      n = ::splice(pipe_fd, nullptr, null_fd_, nullptr, splice_chunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno != EINTR && errno != EAGAIN) {
        splice_null_ = false;
        continue;
      }
    }
    if (n > 0) {
      total_ += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return true;  // EAGAIN: empty for now
  }
  return true;
}

void output_sink::close_unsynced() {
  if (fd_ < 0) return;
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_errno("cannot close", path_);
}

void output_sink::finish() {
  if (fd_ < 0) return;
  int fd = fd_;
  fd_ = -1;
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    throw_errno("cannot fsync", path_);
  }
  if (::close(fd) != 0) throw_errno("cannot close", path_);
}

job_output::job_output(const job_spec& spec)
    : job_id_(spec.job_id), cap_(spec.output_cap_bytes) {
  if (spec.output_dir.empty()) throw std::runtime_error("job " + spec.job_id + " has no output_dir");
  dir_ = job_dir(spec.output_dir, spec.job_id);
  std::string meta = dir_ + "/meta.json";
  if (::unlink(meta.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove stale", meta);
  stdout_.open(dir_ + "/stdout", spec.output_cap_bytes, spec.inline_limit);
  stderr_.open(dir_ + "/stderr", spec.output_cap_bytes, spec.inline_limit);
}

void job_output::finish(job_result& r) {
  stdout_.finish();
  stderr_.finish();
  fill(r);
  make_parent_dirs(dir_ + "/meta.json");
  write_durably(dir_, "meta.json", meta_text(r));
}

void job_output::fill(job_result& r) const {
  r.stdout_inline = stdout_.inline_data();
  r.stderr_inline = stderr_.inline_data();
  r.stdout_bytes = stdout_.total_bytes();
  r.stderr_bytes = stderr_.total_bytes();
  r.truncated = stdout_.truncated() || stderr_.truncated();
}

std::string job_output::meta_text(const job_result& r) const {
  nlohmann::json meta = {
      {"job_id", job_id_},
      {"outcome", to_string(r.result)},
      {"exit_code", r.exit_code ? nlohmann::json(*r.exit_code) : nlohmann::json(nullptr)},
      {"error", r.error},
      {"timed_out", r.timed_out},
      {"oom_killed", r.oom_killed},
      {"truncated", r.truncated},
      {"stdout_bytes", r.stdout_bytes},
      {"stderr_bytes", r.stderr_bytes},
      {"output_cap_bytes", cap_},
  };
  return meta.dump(2) + "\n";
}

bool job_output::finish_unsynced(job_result& r) {
  stdout_.close_unsynced();
  stderr_.close_unsynced();
  fill(r);
  if (!r.cut_inline()) return false;
  const std::string tmp = dir_ + "/meta.json.tmp";
  make_parent_dirs(tmp);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create", tmp);
  try {
    write_all(fd, meta_text(r), tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw_errno("cannot close", tmp);
  meta_pending_ = true;
  return true;
}

void job_output::publish() {
  if (!meta_pending_) return;
  meta_pending_ = false;
  const std::string tmp = dir_ + "/meta.json.tmp", final_path = dir_ + "/meta.json";
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) throw_errno("cannot rename to", final_path);
}

void remove_output(const std::string& output_dir, const std::string& job_id) {
  remove_tree(job_dir(output_dir, job_id));
}

stored_output read_output(const std::string& output_dir, const std::string& job_id) {
  stored_output s;
  std::string dir = output_dir + "/" + job_id;
  std::string meta_path = dir + "/meta.json";
  struct stat st;
  if (::stat(meta_path.c_str(), &st) != 0) return s;
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path));
    s.truncated = meta.at("truncated").get<bool>();
    s.stdout_bytes = meta.at("stdout_bytes").get<std::uint64_t>();
    s.stderr_bytes = meta.at("stderr_bytes").get<std::uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("corrupt " + meta_path + ": " + e.what());
  }
  s.stdout_data = read_file(dir + "/stdout");
  s.stderr_data = read_file(dir + "/stderr");
  s.found = true;
  return s;
}

job_result run_with_output(const job_spec& spec, const std::function<void(job_output&, job_result&)>& execute) {
  job_result r;
  std::optional<job_output> out;
  try {
    out.emplace(spec);
  } catch (const output_full_error& e) {
    r.error = e.what();
    return r;
  } catch (const std::exception& e) {
    r.error = std::string("cannot store output: ") + e.what();
    return r;
  }
  bool full = false;
  try {
    execute(*out, r);
  } catch (const std::exception& e) {
    full = record_run_error(r, e);
  }
  try {
    out->finish(r);
  } catch (const std::exception& e) {
    record_store_error(r, e, full);
  }
  return r;
}

bool record_run_error(job_result& r, const std::exception& e) {
  r.result = outcome::failed;
  r.error = e.what();
  return dynamic_cast<const output_full_error*>(&e) != nullptr;
}

void record_store_error(job_result& r, const std::exception& e, bool run_full) {
  r.result = outcome::failed;
  if (run_full) return;
  if (dynamic_cast<const output_full_error*>(&e))
    r.error = e.what();
  else
    r.error = std::string("cannot store output: ") + e.what();
}

}  // namespace troupe::exec
