// Kill -9 test: a child process appends and syncs; after it acknowledges some
// syncs we SIGKILL it at an arbitrary point, reopen the log and check that
// every acknowledged entry survived intact and the rest is well-formed.
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <random>
#include <string>

#include "crash_workload.hpp"
#include "runtime/storage/segmented_log.hpp"
#include "test_support.hpp"

using namespace troupe;
using namespace troupe::storage;
using namespace std::chrono;

namespace {

constexpr const char* segment_bytes = "65536";

struct child_process {
  pid_t pid = -1;
  int out_fd = -1;
};

child_process spawn_writer(const std::string& dir, unsigned seed) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const std::string seed_text = std::to_string(seed);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execl(TROUPE_STORAGE_CRASH_WRITER, TROUPE_STORAGE_CRASH_WRITER, dir.c_str(), seed_text.c_str(), segment_bytes,
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  return {pid, pipe_fds[0]};
}

struct ack {
  raft::index_t index = 0;
  raft::term_t term = 0;
};

// Reads "synced <index> <term>" lines until `wanted` acks arrived or the
// deadline passed; returns the acks seen.
std::vector<ack> read_acks(int fd, std::string& pending, std::size_t wanted, steady_clock::time_point deadline) {
  std::vector<ack> acks;
  while (acks.size() < wanted && steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;  // child exited
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      unsigned long long index = 0, term = 0;
      if (std::sscanf(pending.c_str(), "synced %llu %llu", &index, &term) == 2) acks.push_back({index, term});
    }
  }
  return acks;
}

// The first index of the newest segment, from the file names on disk.
raft::index_t last_segment_first_index(const segmented_log& log) {
  raft::index_t newest = 0;
  for (const auto& e : std::filesystem::directory_iterator(log.log_directory()))
    if (const auto i = parse_segment_file_name(e.path().filename().string())) newest = std::max(newest, *i);
  REQUIRE(newest > 0);
  return newest;
}

}  // namespace

TEST_SUITE("crash") {
  TEST_CASE("SIGKILL at arbitrary points never loses an acknowledged entry") {
    testing::temp_dir d;
    std::mt19937 rng(20261127);
    ack durable;  // highest acknowledged over all rounds
    int rounds_with_repair = 0;
    const auto test_deadline = steady_clock::now() + seconds(60);
    for (int round = 0; round < 6 && steady_clock::now() < test_deadline; ++round) {
      CAPTURE(round);
      child_process child = spawn_writer(d.path(), rng());
      std::string pending;
      const std::vector<ack> acks = read_acks(child.out_fd, pending, 3 + rng() % 20, steady_clock::now() + seconds(10));
      // Let it run a little further so the kill lands mid-burst, mid-sync, in a
      // segment roll, a truncation or a compaction.
      ::usleep(static_cast<useconds_t>(rng() % 20000));
      const std::vector<ack> late = read_acks(child.out_fd, pending, 1000000, steady_clock::now());
      REQUIRE(::kill(child.pid, SIGKILL) == 0);
      // Acks written before the kill are still in the pipe: collect them too.
      std::vector<ack> rest;
      for (int drain = 0; drain < 100; ++drain) {
        const auto more = read_acks(child.out_fd, pending, 1000000, steady_clock::now() + milliseconds(200));
        if (more.empty()) break;
        rest.insert(rest.end(), more.begin(), more.end());
      }
      int status = 0;
      REQUIRE(::waitpid(child.pid, &status, 0) == child.pid);
      ::close(child.out_fd);
      REQUIRE_MESSAGE(acks.size() >= 3, "writer acknowledged too few syncs before the deadline");
      CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
      for (const std::vector<ack>* list : {&acks, &late, static_cast<const std::vector<ack>*>(&rest)})
        for (const ack& a : *list) {
          REQUIRE(a.index >= durable.index);  // acks only grow
          durable = a;
        }

      auto log = segmented_log::open(d.path(), log_options{65536});
      if (log.recovery().truncated || !log.recovery().removed_empty_segments.empty()) ++rounds_with_repair;
      MESSAGE("round " << round << ": acknowledged " << durable.index << ", recovered ["
                       << log.first_index() << ", " << log.last_index() << "]; " << log.recovery().describe());
      REQUIRE(log.last_index() >= durable.index);
      REQUIRE(log.first_index() <= durable.index);
      CHECK(log.term_at(durable.index) == durable.term);
      const auto entries = log.read(log.first_index(), log.last_index() + 1);
      raft::term_t prev_term = 0;
      for (const raft::entry& e : entries) {
        REQUIRE(e == crash_workload::entry_for(e.index, e.term));
        REQUIRE(e.term >= prev_term);
        prev_term = e.term;
      }

      // Every other round, also play a power cut: the unsynced part of the
      // last segment is lost from an arbitrary byte on, tearing a record.
      if (round % 2 == 1 && log.last_index() > durable.index) {
        const std::string last = log.log_directory() + "/" + segment_file_name(last_segment_first_index(log));
        const raft::index_t seg_first = last_segment_first_index(log);
        std::uint64_t acked_end = 0;
        if (seg_first <= durable.index)
          for (const raft::entry& e : log.read(seg_first, durable.index + 1)) acked_end += encoded_record_bytes(e);
        const std::uint64_t size = std::filesystem::file_size(last);
        REQUIRE(size > acked_end);
        const std::uint64_t cut = acked_end + rng() % (size - acked_end);
        std::filesystem::resize_file(last, cut);
        auto cut_log = segmented_log::open(d.path(), log_options{65536});
        MESSAGE("round " << round << ": cut " << last << " at " << cut << "; " << cut_log.recovery().describe());
        if (cut_log.recovery().truncated) ++rounds_with_repair;
        REQUIRE(cut_log.last_index() >= durable.index);
        CHECK(cut_log.term_at(durable.index) == durable.term);
        for (const raft::entry& e : cut_log.read(cut_log.first_index(), cut_log.last_index() + 1))
          REQUIRE(e == crash_workload::entry_for(e.index, e.term));
      }
    }
    MESSAGE(rounds_with_repair << " round(s) needed tail repair");
    CHECK(durable.index > 0);
  }
}
