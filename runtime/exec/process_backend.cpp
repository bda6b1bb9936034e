#include "runtime/exec/process_backend.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>
#include <fcntl.h>
#include <map>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/common/log.hpp"
#include "runtime/exec/fork_server.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_job.hpp"
#include "runtime/exec/process_loop.hpp"
#include "runtime/exec/spawn.hpp"
#include "runtime/exec/start_journal.hpp"

namespace troupe::exec {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string describe_signal(int sig, const process_options& o, std::uint64_t cpu_seconds) {
  std::string s = "killed by signal " + std::to_string(sig);
  if (sig == SIGXFSZ)
    s += " (SIGXFSZ: a file reached the size limit of " + std::to_string(o.max_file_bytes) +
         " bytes, [executor.process] max_file_bytes)";
  else if (sig == SIGXCPU)
    s += " (SIGXCPU: the CPU time limit of " + std::to_string(cpu_seconds) + " s was reached)";
  return s;
}

// The outcome of a job whose shim ran, from what the loop saw and the shim
// reported.
void classify(process_job& j, const process_options& o) {
  job_result& r = j.result;
  const shim_report rep = parse_report(j.report_data);
  if (j.cancel->cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled";
  } else if (r.timed_out) {
    r.result = outcome::failed;
    r.error = "timed out after " + std::to_string(j.spec.timeout.count()) + " s";
  } else if (!rep.setup_error.empty()) {
    r.result = outcome::failed;
    r.error = "cannot start the job: " + rep.setup_error;
  } else if (!rep.have_status) {
    r.result = outcome::failed;
    // Killed, or it could not even start (its fork server died first).
    r.error = "the job's reaper process ended without the job's exit status";
  } else if (WIFEXITED(rep.status)) {
    r.exit_code = WEXITSTATUS(rep.status);
    r.result = *r.exit_code == 0 ? outcome::completed : outcome::failed;
    if (*r.exit_code != 0) r.error = "exited with code " + std::to_string(*r.exit_code);
    // The shell's code for a command a limit killed: say which limit.
    if (*r.exit_code == 128 + SIGXFSZ || *r.exit_code == 128 + SIGXCPU)
      r.error += " (a command was " + describe_signal(*r.exit_code - 128, o, j.cpu_seconds) + ")";
  } else if (WIFSIGNALED(rep.status)) {
    r.result = outcome::failed;
    r.error = describe_signal(WTERMSIG(rep.status), o, j.cpu_seconds);
  }
}

}  // namespace

process_backend::process_backend(process_options options) : options_(std::move(options)) {
  if (options_.nice < 0 || options_.nice > 19)
    throw std::runtime_error("[executor.process] nice " + std::to_string(options_.nice) + " is not 0-19");
  user_ = resolve_job_user(options_.user);
  // At startup, not per job: a node without its shim must not accept jobs.
  shim_path_ = locate_shim(options_.shim_path);
  prepare_private_dir(options_.work_dir);
  server_ = std::make_unique<fork_server>(shim_path_, options_.nice, options_.cpus);
  finisher_ = std::thread([this] { finisher_main(); });
  loop_ = std::make_unique<process_loop>([this](std::unique_ptr<process_job> job) { to_finisher(std::move(job)); });
  starter_ = std::thread([this] { starter_main(); });
}

process_backend::~process_backend() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_starter_.notify_all();
  if (starter_.joinable()) starter_.join();  // what was still pending is reported cancelled
  loop_->stop();                             // kills what runs, hands it to the finisher
  {
    std::lock_guard<std::mutex> lock(finish_mutex_);
    finish_stopping_ = true;
  }
  wake_finisher_.notify_all();
  if (finisher_.joinable()) finisher_.join();  // stores and reports it
  for (auto& [node, slots] : slots_)
    for (auto& s : slots)
      if (s.lock_fd >= 0) ::close(s.lock_fd);  // the slot is free for another backend again
}

void process_backend::to_finisher(std::unique_ptr<process_job> job) {
  {
    std::lock_guard<std::mutex> lock(finish_mutex_);
    finishing_.push_back(std::move(job));
  }
  wake_finisher_.notify_one();
}

// The backend's threads spawn, sync and store for the jobs: at the jobs'
// priority, so that a backlog of executions takes CPU from consensus only
// when it is idle (issue #12: admission must not let execution slow down
// Raft). Linux's nice is per thread; best effort.
void process_backend::lower_own_priority() const {
  if (options_.nice > 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.nice);
}

void process_backend::finisher_main() {
  lower_own_priority();
  std::unique_lock<std::mutex> lock(finish_mutex_);
  for (;;) {
    wake_finisher_.wait(lock, [this] { return finish_stopping_ || !finishing_.empty(); });
    if (finishing_.empty()) return;  // stopping, nothing left
    // Everything finished so far is one batch: two syncs for all of it.
    std::vector<std::unique_ptr<process_job>> batch;
    for (auto& j : finishing_) batch.push_back(std::move(j));
    finishing_.clear();
    lock.unlock();
    finish_batch(batch);
    lock.lock();
  }
}

bool process_backend::healthy() {
  if (::access("/bin/sh", X_OK) != 0) return false;
  if (::access(shim_path_.c_str(), X_OK) != 0) return false;
  try {
    prepare_private_dir(options_.work_dir);  // e.g. a cleaner removed /tmp/troupe-jobs
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

pid_t process_backend::shim_server_pid() { return server_->pid(); }

std::vector<std::string> process_backend::orphaned_jobs(std::uint64_t) { return {}; }

void process_backend::remove_job_artifacts(const std::string&) {}

job_result process_backend::run(const job_spec& spec, cancel_token& cancel) {
  auto token = std::make_shared<cancel_token>();
  cancel.on_cancel([token] { token->cancel(); });
  // shared: the finisher may still be inside set_value when run() returns.
  auto result = std::make_shared<std::promise<job_result>>();
  auto future = result->get_future();
  job_spec s = spec;
  s.journal.reset();
  start(s, token, [result](job_result r) { result->set_value(std::move(r)); });
  return future.get();
}

void process_backend::start(const job_spec& spec, std::shared_ptr<cancel_token> cancel, done_callback done) {
  auto job = std::make_unique<process_job>();
  job->spec = spec;
  job->cancel = cancel ? std::move(cancel) : std::make_shared<cancel_token>();
  job->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(job));
  }
  wake_starter_.notify_one();
}

void process_backend::starter_main() {
  lower_own_priority();
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_starter_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    // Everything queued so far is one batch: one sync for all its start
    // records (group commit), however many jobs arrived together.
    std::vector<std::unique_ptr<process_job>> batch;
    for (auto& j : pending_) batch.push_back(std::move(j));
    pending_.clear();
    const bool stopping = stopping_;
    lock.unlock();

    // Each journal's records of the batch become durable together (a node
    // has one journal; a test may use several).
    std::map<start_journal*, std::pair<std::vector<start_record>, std::vector<process_job*>>> by_journal;
    for (auto& j : batch)
      if (j->spec.journal) {
        auto& [records, recorded] = by_journal[j->spec.journal.get()];
        records.push_back({j->spec.job_id, j->spec.attempt, {}});
        recorded.push_back(j.get());
      }
    for (auto& [journal, group] : by_journal) {
      auto& [records, recorded] = group;
      journal->record(records);
      for (std::size_t i = 0; i < records.size(); ++i)
        if (!records[i].error.empty()) {
          recorded[i]->finished_early = true;
          recorded[i]->result.result = outcome::failed;
          recorded[i]->result.error = "cannot record the job's start: " + records[i].error;
        }
    }
    for (auto& j : batch) {
      if (j->finished_early) {
        // Nothing ran and nothing was stored, as when backend::start cannot record.
        j->done(std::move(j->result));
        continue;
      }
      if (stopping) j->cancel->cancel();  // the backend is going away: nothing new starts
      launch(std::move(j));
    }
    lock.lock();
  }
}

void process_backend::launch(std::unique_ptr<process_job> job) {
  process_job& j = *job;
  // As run_with_output: output first; a failure there fails the job and
  // stores nothing.
  try {
    j.output.emplace(j.spec);
  } catch (const output_full_error& e) {
    j.result.error = e.what();
    j.done(std::move(j.result));
    return;
  } catch (const std::exception& e) {
    j.result.error = std::string("cannot store output: ") + e.what();
    j.done(std::move(j.result));
    return;
  }
  try {
    prepare(j);
  } catch (const std::exception&) {
    j.error = std::current_exception();
  }
  if (!j.launched) {
    to_finisher(std::move(job));  // nothing ran: the result is known already
    return;
  }
  loop_->watch(std::move(job));
}

void process_backend::prepare(process_job& j) {
  const job_spec& spec = j.spec;
  job_result& r = j.result;
  if (spec.command.empty()) throw std::runtime_error("job " + spec.job_id + " has an empty command");
  if (spec.timeout.count() <= 0)
    throw std::runtime_error("job " + spec.job_id + " has a non-positive timeout (" +
                             std::to_string(spec.timeout.count()) + " s)");
  if (j.cancel->cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled before start";
    return;
  }
  // A private directory, outside the data dir: work_dir and the node's
  // directory below it belong to the node (0711: enterable, not listable or
  // writable by jobs), the job's slot to the job user (0700) while it runs.
  prepare_private_dir(options_.work_dir);
  const std::string node_dir = options_.work_dir + "/node-" + std::to_string(spec.node_id);
  prepare_private_dir(node_dir);
  bool fresh = false;
  j.slot = acquire_slot(spec.node_id, node_dir, fresh);
  const std::string job_dir = node_dir + "/slot-" + std::to_string(*j.slot);
  j.work_dir = job_dir;
  enter_slot(job_dir, fresh);

  spawn_plan plan;
  plan.argv = {"/bin/sh", "-c", spec.command};
  // Fixed and minimal: nothing of the node's own environment (tokens,
  // credentials, paths to its data) reaches a job. PWD is what the shell
  // exports, here also for a command the shim runs without it
  // (direct_command.hpp); and the order is the one dash passes on (its
  // variable table's), so that a program sees the same environ either way.
  plan.env = {"HOME=" + job_dir, "TMPDIR=" + job_dir, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
              "TROUPE_JOB_ID=" + spec.job_id, "PWD=" + job_dir};
  plan.work_dir = job_dir;
  plan.user = user_;
  plan.max_processes = options_.max_processes;
  plan.max_file_bytes = options_.max_file_bytes;
  j.cpu_seconds = options_.cpu_s ? options_.cpu_s : static_cast<std::uint64_t>(spec.timeout.count());
  plan.cpu_seconds = j.cpu_seconds;
  plan.address_space_bytes = options_.rlimit_as_bytes.value_or(0);
  plan.nice = options_.nice;

  j.deadline = process_job::clock::now() + spec.timeout;
  j.proc = spawn_job(*server_, plan);
  j.launched = true;
  j.killer->control_fd = j.proc.control_fd;
  j.proc.control_fd = -1;  // the kill switch owns it now
  j.cancel->on_cancel([killer = j.killer] { killer->kill_all(); });
}

namespace {

// syncfs of the file system holding `dir`; "" or the error.
std::string sync_fs_of(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return "cannot open directory " + dir + ": " + std::strerror(errno);
  std::string error;
  if (::syncfs(fd) != 0) error = "cannot sync the file system of " + dir + ": " + std::strerror(errno);
  ::close(fd);
  return error;
}

}  // namespace

// The job's result from what happened; the job's processes are gone and its
// directory empty afterwards. Returns whether the output error (if any) was a full
// disk, which keeps precedence over later storage errors.
bool process_backend::settle(process_job& j) {
  job_result& r = j.result;
  bool full = false;
  if (j.error) {
    try {
      std::rethrow_exception(j.error);
    } catch (const std::exception& e) {
      full = record_run_error(r, e);
    }
  } else if (j.launched) {
    classify(j, options_);
  }
  for (int* fd : {&j.proc.stdout_fd, &j.proc.stderr_fd, &j.proc.report_fd})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  j.killer->close();
  if (j.slot) release_slot(j.spec.node_id, *j.slot, leave_slot(j.work_dir));
  return full;
}

std::size_t process_backend::acquire_slot(std::uint64_t node_id, const std::string& node_dir, bool& fresh) {
  std::lock_guard<std::mutex> lock(slots_mutex_);
  auto& slots = slots_[node_id];
  // An idle slot first: a fresh one costs a removal (a deleted inode).
  std::size_t k = 0;
  while (k < slots.size() && slots[k].state != slot_state::idle) ++k;
  if (k == slots.size()) {
    k = 0;
    while (k < slots.size() && slots[k].state != slot_state::fresh) ++k;
    // A new slot, claimed for as long as this backend lives; one another
    // backend holds is skipped for good.
    while (k == slots.size()) {
      if (slots.size() >= max_slots_per_node)
        throw std::runtime_error("cannot enter a working directory: all " + std::to_string(max_slots_per_node) +
                                 " slots of " + node_dir + " are taken");
      slots.push_back(claim_slot(node_dir, k));
      if (slots[k].state == slot_state::foreign) ++k;
    }
  }
  fresh = slots[k].state == slot_state::fresh;
  slots[k].state = slot_state::busy;
  return k;
}

// Another node on this machine with the same id and work_dir (a second
// cluster started with the defaults, or two test clusters side by side)
// would otherwise take the same slots: remove a running job's directory as
// "fresh", or empty it under the job. An exclusive flock on
// <node dir>/slot-<k>.lock, held until this backend is destroyed (the kernel
// drops it when the process dies, however it dies), makes each slot one
// backend's; the other uses the next free one.
process_backend::slot process_backend::claim_slot(const std::string& node_dir, std::size_t k) {
  const std::string path = node_dir + "/slot-" + std::to_string(k) + ".lock";
  slot s;
  s.lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (s.lock_fd < 0) throw_errno("cannot open the slot lock " + path);
  if (::flock(s.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(s.lock_fd);
    s.lock_fd = -1;
    if (err != EWOULDBLOCK) {
      errno = err;
      throw_errno("cannot lock the slot lock " + path);
    }
    TLOG(warn, "process_backend") << "working directory slot " << k << " of " << node_dir
                                  << " is held by another backend (another node with this id and work_dir on this "
                                     "machine?); using the next slot";
    s.state = slot_state::foreign;
  }
  return s;
}

void process_backend::release_slot(std::uint64_t node_id, std::size_t slot, bool emptied) {
  std::lock_guard<std::mutex> lock(slots_mutex_);
  slots_[node_id][slot].state = emptied ? slot_state::idle : slot_state::fresh;
}

void process_backend::enter_slot(const std::string& path, bool fresh) {
  // Whatever a crashed node, or a job whose files could not be removed,
  // left there goes with the directory; it is made again below (as is an
  // idle slot a cleaner of /tmp removed).
  if (fresh) remove_tree(path);
  const bool made = ::mkdir(path.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) throw_errno("cannot create working directory " + path);
  // An idle slot was emptied when its last job ended (leave_slot) and, when
  // jobs run as another user, has been the node's since, mode 0700: no job
  // can have put anything there. When jobs run as the node's own user, any
  // of them could have: it is emptied again.
  const bool untouched = !fresh && !made && user_.switch_user;
  // Never follows a symlink: the slot is made by the node in the node's own directory.
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open working directory " + path);
  try {
    if (!untouched) {
      if (!fresh) empty_tree(fd, path);
      if (::fchmod(fd, 0700) != 0) throw_errno("cannot set the mode of working directory " + path);
    }
    if (user_.switch_user && ::fchown(fd, user_.uid, user_.gid) != 0)
      throw_errno("cannot hand working directory " + path + " to user " + user_.name);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

bool process_backend::leave_slot(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    // The job made its directory unreadable (only matters when the node is
    // not root): the directory is the node's to open again.
    ::chmod(path.c_str(), 0700);
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  try {
    if (fd < 0) throw_errno("cannot open working directory " + path);
    // The node's again before it is emptied: no job (they all run as one
    // user) can add to it while it is emptied or idle.
    if (user_.switch_user && ::fchown(fd, ::geteuid(), ::getegid()) != 0)
      throw_errno("cannot take back working directory " + path);
    if (::fchmod(fd, 0700) != 0) throw_errno("cannot set the mode of working directory " + path);
    empty_tree(fd, path);
  } catch (const std::exception& e) {
    if (fd >= 0) ::close(fd);
    TLOG(warn, "process_backend") << "could not empty the working directory of a finished job (it is made afresh "
                                     "before its next use): "
                                  << e.what();
    return false;
  }
  ::close(fd);
  return true;
}

void process_backend::finish_batch(std::vector<std::unique_ptr<process_job>>& batch) {
  // Storage errors as run_with_output reports them.
  auto store_failed = [](process_job& j, bool full, const std::exception& e) { record_store_error(j.result, e, full); };
  std::vector<bool> full(batch.size()), ok(batch.size());
  std::map<std::string, std::vector<std::size_t>> by_fs;  // output dir -> jobs stored there
  for (std::size_t i = 0; i < batch.size(); ++i) {
    process_job& j = *batch[i];
    full[i] = settle(j);
    try {
      const bool stored = j.output->finish_unsynced(j.result);
      ok[i] = true;
      if (stored) by_fs[j.spec.output_dir].push_back(i);  // else nothing to sync or publish
    } catch (const std::exception& e) {
      store_failed(j, full[i], e);
    }
  }
  // Group commit: the streams and temp files of every job durable, then
  // the renames that publish them. meta.json never names unsynced output.
  auto sync_all = [&] {
    for (auto& [dir, jobs] : by_fs) {
      std::string error = sync_fs_of(dir);
      if (error.empty()) continue;
      for (std::size_t i : jobs)
        if (ok[i]) {
          ok[i] = false;
          store_failed(*batch[i], full[i], std::runtime_error(error));
        }
    }
  };
  sync_all();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!ok[i]) continue;
    try {
      batch[i]->output->publish();
    } catch (const std::exception& e) {
      ok[i] = false;
      store_failed(*batch[i], full[i], e);
    }
  }
  sync_all();
  for (auto& j : batch) {
    j->output.reset();
    j->done(std::move(j->result));
  }
}

std::unique_ptr<backend> make_process_backend(process_options options) {
  return std::make_unique<process_backend>(std::move(options));
}

}  // namespace troupe::exec
