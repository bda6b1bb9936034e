#include "runtime/exec/process_loop.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <sys/epoll.h>
#include <unistd.h>

#include "runtime/common/log.hpp"

namespace troupe::exec {

namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// After the shim exits, how long the job's pipes may stay open (nothing of
// the job is left to hold them; a safety net only).
constexpr auto drain_grace = 2s;
// How long stop() waits for the killed jobs' shims.
constexpr auto stop_grace = 10s;

// What an epoll event is about: the job's number and which descriptor.
enum kind : std::uint64_t { k_stdout = 0, k_stderr = 1, k_report = 2 };

std::uint64_t tag(std::uint64_t id, kind k) { return (id << 2) | k; }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

process_loop::process_loop(finished_fn on_finished) : on_finished_(std::move(on_finished)) {
  thread_ = std::thread([this] { run(); });
}

process_loop::~process_loop() { stop(); }

void process_loop::watch(std::unique_ptr<process_job> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    incoming_.push_back(std::move(job));
  }
  epoll_.wake();
}

void process_loop::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  epoll_.wake();
  if (thread_.joinable()) thread_.join();
}

void process_loop::run() {
  std::map<std::uint64_t, std::unique_ptr<process_job>> jobs;
  std::set<std::pair<clock::time_point, std::uint64_t>> timers;  // deadlines and drain deadlines
  std::uint64_t next_id = 1;
  bool stopping = false;
  std::optional<clock::time_point> stop_deadline;

  auto unwatch = [&](int& fd) {
    if (fd < 0) return;
    ::epoll_ctl(epoll_.fd(), EPOLL_CTL_DEL, fd, nullptr);
    close_fd(fd);
  };
  auto add = [&](int fd, std::uint64_t data) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = data;
    return ::epoll_ctl(epoll_.fd(), EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  // Hands the job on once its shim is gone and its pipes are drained (or
  // the grace is over).
  auto maybe_finish = [&](std::uint64_t id, clock::time_point now) {
    auto it = jobs.find(id);
    if (it == jobs.end()) return;
    process_job& j = *it->second;
    if (!j.exited) return;
    bool streams_done = j.proc.stdout_fd < 0 && j.proc.stderr_fd < 0;
    if (!streams_done && !(j.drain_deadline && now >= *j.drain_deadline)) return;
    unwatch(j.proc.stdout_fd);
    unwatch(j.proc.stderr_fd);
    // Its timers go with it (a timeout may be hours away).
    timers.erase({j.deadline, id});
    if (j.drain_deadline) timers.erase({*j.drain_deadline, id});
    auto job = std::move(it->second);
    jobs.erase(it);
    on_finished_(std::move(job));
  };
  // The shim's report pipe reached EOF: the shim exits (it closes the pipe
  // only by exiting; the job never holds it). It is the fork server's
  // child, which reaps it.
  auto shim_gone = [&](process_job& j, std::uint64_t id, clock::time_point now) {
    unwatch(j.proc.report_fd);
    j.exited = true;
    j.killer->close();
    j.drain_deadline = now + drain_grace;
    timers.insert({*j.drain_deadline, id});
  };
  auto output_failed = [&](process_job& j) {
    // Never leave a job running behind an output it cannot store: kill it,
    // stop reading (the finisher reports the error).
    if (!j.error) j.error = std::current_exception();
    j.killer->kill_all();
    unwatch(j.proc.stdout_fd);
    unwatch(j.proc.stderr_fd);
  };

  epoll_event events[64];
  for (;;) {
    std::vector<std::unique_ptr<process_job>> fresh;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fresh.swap(incoming_);
      if (stopping_ && !stopping) {
        stopping = true;
        stop_deadline = clock::now() + stop_grace;
        // Reported as cancelled, as when the node's executors are stopped.
        for (auto& [id, j] : jobs) j->cancel->cancel();
      }
    }
    for (auto& job : fresh) {
      const std::uint64_t id = next_id++;
      process_job& j = *job;
      bool ok = add(j.proc.stdout_fd, tag(id, k_stdout)) && add(j.proc.stderr_fd, tag(id, k_stderr)) &&
                add(j.proc.report_fd, tag(id, k_report));
      if (!ok) {
        // Cannot watch it: kill it and wait for the shim here (it exits at once).
        j.error = std::make_exception_ptr(std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno)));
        j.killer->kill_all();
      }
      timers.insert({j.deadline, id});
      if (stopping) j.cancel->cancel();
      jobs.emplace(id, std::move(job));
      if (!ok) {
        auto& jj = *jobs[id];
        for (int* fd : {&jj.proc.stdout_fd, &jj.proc.stderr_fd, &jj.proc.report_fd}) unwatch(*fd);
        shim_gone(jj, id, clock::now());
        jj.drain_deadline = clock::now();
        maybe_finish(id, clock::now());
      }
    }
    if (stopping && jobs.empty()) break;

    auto now = clock::now();
    if (stop_deadline && now >= *stop_deadline) {
      // The shims did not exit in time: closing the control pipes is their
      // "node gone" signal (they kill everything and clean up on their own).
      for (auto& [id, j] : jobs) {
        TLOG(warn, "process_backend") << "job " << j->spec.job_id << " did not stop in time at shutdown";
        j->killer->close();
        for (int* fd : {&j->proc.stdout_fd, &j->proc.stderr_fd, &j->proc.report_fd}) unwatch(*fd);
        j->exited = true;
        on_finished_(std::move(j));
      }
      jobs.clear();
      break;
    }

    // Due timers: a timeout kills the job; a drain deadline gives up on its pipes.
    while (!timers.empty() && timers.begin()->first <= now) {
      auto [at, id] = *timers.begin();
      timers.erase(timers.begin());
      auto it = jobs.find(id);
      if (it == jobs.end()) continue;
      process_job& j = *it->second;
      if (!j.exited && at == j.deadline && !j.result.timed_out && !j.cancel->cancelled()) {
        j.result.timed_out = true;
        j.killer->kill_all();
      }
      maybe_finish(id, now);
    }

    int timeout_ms = -1;
    if (!timers.empty()) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(timers.begin()->first - now) + 1ms;
      timeout_ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(wait.count(), 0));
    }
    if (stop_deadline) timeout_ms = timeout_ms < 0 ? 100 : std::min(timeout_ms, 100);
    int n = ::epoll_wait(epoll_.fd(), events, 64, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      TLOG(error, "process_backend") << "epoll_wait: " << std::strerror(errno);
      continue;
    }
    now = clock::now();
    for (int i = 0; i < n; ++i) {
      if (epoll_.consume_wake(events[i])) continue;
      const std::uint64_t data = events[i].data.u64;
      const std::uint64_t id = data >> 2;
      const auto k = static_cast<kind>(data & 3);
      auto it = jobs.find(id);
      if (it == jobs.end()) continue;
      process_job& j = *it->second;
      if (k == k_report) {
        if (j.proc.report_fd < 0) continue;
        char buf[1024];
        for (;;) {
          ssize_t got = ::read(j.proc.report_fd, buf, sizeof buf);
          if (got > 0) {
            j.report_data.append(buf, static_cast<std::size_t>(got));
            continue;
          }
          if (got < 0 && errno == EINTR) continue;
          if (got < 0 && errno == EAGAIN) break;
          shim_gone(j, id, now);  // EOF (or an error: nothing more will come)
          break;
        }
      } else {
        int& fd = k == k_stdout ? j.proc.stdout_fd : j.proc.stderr_fd;
        if (fd < 0) continue;
        try {
          output_sink& sink = k == k_stdout ? j.output->out() : j.output->err();
          if (!sink.drain(fd)) unwatch(fd);
        } catch (const std::exception&) {
          output_failed(j);
        }
      }
      maybe_finish(id, now);
    }
  }
}

}  // namespace troupe::exec
