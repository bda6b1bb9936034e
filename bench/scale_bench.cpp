// A job table of N (default 1,000,000) jobs, built in-process through the real
// replicated state machine (jobs::job_table::apply of submit, assign and
// status-update commands, as the log would carry them), and what it costs:
//   - RSS before and after building it (VmRSS of this process);
//   - filtered ListJobs pages (job_table::list with a status filter, following
//     next_page_token): p50 / max over PAGES pages per filter;
//   - snapshot: encode (job_table::snapshot), write to a file the way the node
//     does (storage::save_snapshot: write, fsync, rename, fsync dir), then
//     read it back (storage::load_snapshot) and restore it into a new table
//     (decode + indexes);
//   - a lost worker's re-queue: requeue_jobs entries of
//     config::requeue_batch_jobs of worker 2's jobs applied (p50 / max of up
//     to ten), which every submit committed meanwhile waits behind.
// With --data-dir DIR it leaves DIR/raft/{snapshot,hard_state} as a 1-node
// troupe-node (member id 1) recovers them, for bench/scale.sh to time a real
// node's restart on it.
//
// Status mix (of N): 80% completed, 5% failed, 3% cancelled, 4% running,
// 3% assigned, 5% pending; workers 1..3; created over the last 30 minutes (the
// node's default retention is an hour, so nothing is evicted at its start).
//
// --local-jobs K: only the first K assigned or running jobs are on worker 1
// (the node scale.sh restarts), the others on workers 2 and 3. Without it
// they are spread over 1..3, and the restarted node must start (assigned) or
// report failed (running) a third of them -- ~23,000 at 1M jobs, far past any
// node's capacity -- which measures a restart storm of the executor rather
// than the job table.
//
// usage: bench_scale [--jobs N] [--pages P] [--page-size S] [--dir D] [--data-dir D] [--local-jobs K] [--json]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/limits.hpp"
#include "log_command.pb.h"
#include "node/huge_pages.hpp"
#include "runtime/jobs/job_table.hpp"
#include "runtime/jobs/snapshot_codec.hpp"
#include "runtime/storage/state_files.hpp"

using namespace troupe;
using clock_type = std::chrono::steady_clock;

namespace {

double rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// A UUID-shaped id (36 characters, like the node's), deterministic from i.
std::string job_id(std::uint64_t i) {
  std::uint64_t x = i * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-8%03llx-%012llx", (unsigned long long)(x >> 32),
                (unsigned long long)((x >> 16) & 0xffff), (unsigned long long)(x & 0xfff),
                (unsigned long long)((i >> 12) & 0xfff), (unsigned long long)(i & 0xffffffffffffULL));
  return buf;
}

struct args {
  std::uint64_t jobs = 1000000;
  int pages = 100;
  std::uint32_t page_size = 100;
  std::string dir = "/tmp";
  std::string data_dir;
  bool json = false;
  std::int64_t local_jobs = -1;  // -1: placed jobs spread over workers 1..3
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: bench_scale [--jobs N] [--pages P] [--page-size S] [--dir D] [--data-dir D] [--local-jobs K] "
               "[--json]\n");
  std::exit(2);
}

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (f == "--jobs") a.jobs = std::strtoull(val().c_str(), nullptr, 10);
    else if (f == "--pages") a.pages = std::atoi(val().c_str());
    else if (f == "--page-size") a.page_size = static_cast<std::uint32_t>(std::atoi(val().c_str()));
    else if (f == "--dir") a.dir = val();
    else if (f == "--data-dir") a.data_dir = val();
    else if (f == "--local-jobs") a.local_jobs = std::strtoll(val().c_str(), nullptr, 10);
    else if (f == "--json") a.json = true;
    else usage();
  }
  if (a.jobs == 0 || a.pages <= 0 || a.page_size == 0) usage();
  return a;
}

struct page_stats {
  double p50 = 0, max = 0;
  int pages = 0;
  std::uint32_t total = 0;
};

page_stats time_pages(const jobs::job_table& t, jobs::job_status st, const args& a) {
  std::vector<double> ms;
  jobs::list_query q;
  q.page_size = a.page_size;
  q.status = st;
  page_stats out;
  for (int p = 0; p < a.pages; ++p) {
    auto t0 = clock_type::now();
    auto r = t.list(q);
    ms.push_back(ms_since(t0));
    out.total = r.total_count;
    if (r.next_page_token.empty()) break;
    q.page_token = r.next_page_token;
  }
  std::sort(ms.begin(), ms.end());
  out.pages = static_cast<int>(ms.size());
  out.p50 = ms[ms.size() / 2];
  out.max = ms.back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // The heap as a node has it (node/huge_pages.hpp); GLIBC_TUNABLES=
  // glibc.malloc.hugetlb=0 measures 4 KiB pages.
  node::exec_with_huge_pages(argv);
  const args a = parse(argc, argv);
  const double rss0 = rss_mib();
  jobs::job_table table;
  std::uint64_t index = 0;
  logpb::Command cmd;
  auto apply = [&](const logpb::Command& c) {
    auto r = table.apply(++index, c);
    if (r.refused != jobs::refusal::none) {
      std::fprintf(stderr, "bench_scale: command at %llu refused: %s\n", (unsigned long long)index, r.error.c_str());
      std::exit(1);
    }
  };
  for (std::uint64_t w = 1; w <= 3; ++w) {
    cmd.Clear();
    cmd.mutable_register_worker()->set_worker_id(w);
    cmd.mutable_register_worker()->set_address("127.0.0.1:" + std::to_string(50050 + w));
    apply(cmd);
  }
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::int64_t span_ns = 30LL * 60 * 1000000000LL;
  const std::int64_t step_ns = std::max<std::int64_t>(1, span_ns / static_cast<std::int64_t>(a.jobs));
  const std::int64_t start_ns = now_ns - span_ns;

  auto t_build = clock_type::now();
  std::uint64_t counts[jobs::job_status_count] = {};
  std::int64_t placed_local = 0;  // non-terminal placed jobs on worker 1 so far (--local-jobs)
  for (std::uint64_t i = 0; i < a.jobs; ++i) {
    const std::string id = job_id(i);
    const std::int64_t at = start_ns + static_cast<std::int64_t>(i) * step_ns;
    std::uint64_t worker = 1 + i % 3;
    cmd.Clear();
    auto* s = cmd.mutable_submit_job();
    s->set_job_id(id);
    s->set_command(i % 7 == 0 ? "sh -c 'echo batch " + std::to_string(i) + "'" : "true");
    s->set_created_at_ns(at);
    apply(cmd);
    // Status mix by i % 100: [0,5) pending, [5,8) assigned, [8,12) running,
    // [12,15) cancelled, [15,20) failed, [20,100) completed.
    const unsigned m = static_cast<unsigned>(i % 100);
    jobs::job_status final_status = jobs::job_status::pending;
    if (m >= 12 && m < 15) {
      cmd.Clear();
      cmd.mutable_cancel_job()->set_job_id(id);
      cmd.mutable_cancel_job()->set_cancelled_at_ns(at + 1000);
      apply(cmd);
      final_status = jobs::job_status::cancelled;
    } else if (m >= 5) {
      if (a.local_jobs >= 0 && m < 15) {  // stays assigned or running: on worker 1 only while local_jobs lasts
        worker = placed_local < a.local_jobs ? 1 : 2 + i % 2;
        placed_local += worker == 1;
      }
      cmd.Clear();
      auto* as = cmd.mutable_assign_job();
      as->set_job_id(id);
      as->set_worker_id(worker);
      as->set_assigned_at_ns(at + 1000);
      apply(cmd);
      final_status = jobs::job_status::assigned;
      if (m >= 8) {
        cmd.Clear();
        auto* u = cmd.mutable_batch_update_job_status()->add_updates();
        u->set_job_id(id);
        u->set_status(scheduler::JOB_STATUS_RUNNING);
        u->set_executed_by(worker);
        u->set_attempt(1);
        u->set_at_ns(at + 2000);
        apply(cmd);
        final_status = jobs::job_status::running;
      }
      if (m >= 15) {
        cmd.Clear();
        auto* u = cmd.mutable_batch_update_job_status()->add_updates();
        u->set_job_id(id);
        const bool failed = m < 20;
        u->set_status(failed ? scheduler::JOB_STATUS_FAILED : scheduler::JOB_STATUS_COMPLETED);
        u->set_executed_by(worker);
        u->set_attempt(1);
        u->set_exit_code(failed ? 1 : 0);
        u->set_at_ns(at + 3000000);
        if (failed) u->set_error("exit status 1");
        if (i % 7 == 0) u->set_stdout_inline("batch " + std::to_string(i) + "\n");
        apply(cmd);
        final_status = failed ? jobs::job_status::failed : jobs::job_status::completed;
      }
    }
    ++counts[static_cast<int>(final_status)];
  }
  const double build_ms = ms_since(t_build);
  const double rss1 = rss_mib();

  const auto pending_pages = time_pages(table, jobs::job_status::pending, a);
  const auto completed_pages = time_pages(table, jobs::job_status::completed, a);

  auto t_enc = clock_type::now();
  std::string bytes = table.snapshot();
  const double encode_ms = ms_since(t_enc);


  const std::string snap_dir = a.data_dir.empty() ? a.dir + "/bench_scale." + std::to_string(getpid()) : a.data_dir + "/raft";
  raft::snapshot snap;
  snap.meta.index = table.applied_index();
  snap.meta.term = 1;
  snap.meta.conf = raft::membership::of_voters({1});
  snap.data = std::move(bytes);
  const std::size_t snap_bytes = snap.data.size();
  auto t_write = clock_type::now();
  storage::save_snapshot(snap_dir, snap);
  const double write_ms = ms_since(t_write);
  snap = raft::snapshot{};

  auto t_load = clock_type::now();
  auto loaded = storage::load_snapshot(snap_dir);
  const double load_ms = ms_since(t_load);
  if (!loaded) {
    std::fprintf(stderr, "bench_scale: no snapshot read back from %s\n", snap_dir.c_str());
    return 1;
  }
  auto t_dec = clock_type::now();
  auto decoded = jobs::decode_snapshot(loaded->data.view());
  const double decode_ms = ms_since(t_dec);
  const std::size_t decoded_jobs = decoded.jobs.size();
  decoded = jobs::snapshot_contents{};
  jobs::job_table restored;
  auto t_restore = clock_type::now();
  restored.restore(loaded->data.view());
  const double restore_ms = ms_since(t_restore);

  // As the node takes it, from a restored table as after a restart: a piece
  // of config::snapshot_piece_jobs jobs (or config::snapshot_piece_bytes)
  // encoded by job_table, then written by log_store, and so on. The longest
  // piece of each is what an apply or a log append can wait for.
  const std::string expected = restored.snapshot();
  double piece_max_ms = 0, write_piece_max_ms = 0;
  double pieces_ms = 0, write_pieces_ms = 0;
  int pieces = 0;
  {
    storage::snapshot_file_writer w(snap_dir, raft::snapshot_meta{restored.applied_index(), 1,
                                                                  raft::membership::of_voters({1})});
    const auto id = restored.begin_snapshot();
    for (bool done = false; !done; ++pieces) {
      auto t = clock_type::now();
      done = restored.continue_snapshot(id, config::snapshot_piece_jobs, config::snapshot_piece_bytes);
      const std::string piece = restored.take_snapshot_piece(id);
      const double encode = ms_since(t);
      t = clock_type::now();
      w.append(piece);
      const double write = ms_since(t);
      piece_max_ms = std::max(piece_max_ms, encode);
      write_piece_max_ms = std::max(write_piece_max_ms, write);
      pieces_ms += encode;
      write_pieces_ms += write;
    }
    auto t = clock_type::now();
    w.install();
    const double install = ms_since(t);
    write_piece_max_ms = std::max(write_piece_max_ms, install);
    write_pieces_ms += install;
  }
  if (storage::load_snapshot(snap_dir).value().data.view() != expected) {
    std::fprintf(stderr, "bench_scale: the snapshot written in pieces differs from snapshot()\n");
    return 1;
  }
  if (restored.size() != table.size() || decoded_jobs != table.size()) {
    std::fprintf(stderr, "bench_scale: restored %zu jobs, expected %zu\n", restored.size(), table.size());
    return 1;
  }
  if (a.data_dir.empty()) {
    std::filesystem::remove_all(snap_dir);
  } else {
    // As the node's recovery reads it: the snapshot covers the whole log, and
    // the hard state (term 1, voted for node 1) commits through it.
    raft::hard_state hs;
    hs.term = 1;
    hs.vote = 1;
    hs.commit = table.applied_index();
    storage::save_hard_state(snap_dir, hs);
  }

  // A lost worker's re-queue, as the dispatcher proposes it (requeue_jobs
  // entries of config::requeue_batch_jobs): every submit the node commits
  // meanwhile waits behind such an entry's apply. Up to ten entries of
  // worker 2's assigned and running jobs, after the data dir is written.
  std::vector<double> requeue_ms;
  {
    const auto lost = table.on_worker(2);
    std::vector<std::string> ids;
    for (const jobs::job* j : lost) ids.push_back(j->id);
    for (std::size_t at = 0; at < ids.size() && requeue_ms.size() < 10; at += config::requeue_batch_jobs) {
      cmd.Clear();
      auto* batch = cmd.mutable_requeue_jobs();
      for (std::size_t k = at; k < ids.size() && k < at + config::requeue_batch_jobs; ++k) {
        auto* r = batch->add_requeues();
        r->set_job_id(ids[k]);
        r->set_reason("worker 2 stopped responding");
        r->set_max_attempts(3);
        r->set_at_ns(now_ns);
      }
      auto t = clock_type::now();
      apply(cmd);
      requeue_ms.push_back(ms_since(t));
    }
  }
  std::sort(requeue_ms.begin(), requeue_ms.end());
  const double requeue_p50 = requeue_ms.empty() ? 0 : requeue_ms[requeue_ms.size() / 2];
  const double requeue_max = requeue_ms.empty() ? 0 : requeue_ms.back();

  if (a.json) {
    std::printf(
        "{\"jobs\":%zu,\"applied_index\":%llu,\"status_counts\":{\"pending\":%llu,\"assigned\":%llu,\"running\":%llu,"
        "\"completed\":%llu,\"failed\":%llu,\"cancelled\":%llu},\"build_ms\":%.1f,\"rss_mib\":{\"before\":%.1f,"
        "\"after\":%.1f,\"delta\":%.1f},\"list_ms\":{\"page_size\":%u,\"pending\":{\"pages\":%d,\"total\":%u,\"p50\":%.3f,"
        "\"max\":%.3f},\"completed\":{\"pages\":%d,\"total\":%u,\"p50\":%.3f,\"max\":%.3f}},\"snapshot\":{\"bytes\":%zu,"
        "\"encode_ms\":%.1f,\"write_ms\":%.1f,\"read_ms\":%.1f,\"decode_ms\":%.1f,\"restore_ms\":%.1f,"
        "\"in_pieces\":{\"encode_ms\":%.1f,\"encode_pieces\":%d,\"encode_piece_max_ms\":%.1f,\"write_ms\":%.1f,"
        "\"write_piece_max_ms\":%.1f}},\"requeue_entry_ms\":{\"entries\":%zu,\"p50\":%.2f,\"max\":%.2f},"
        "\"data_dir\":\"%s\"}\n",
        table.size(), (unsigned long long)table.applied_index(), (unsigned long long)counts[1],
        (unsigned long long)counts[6], (unsigned long long)counts[2], (unsigned long long)counts[3],
        (unsigned long long)counts[4], (unsigned long long)counts[5], build_ms, rss0, rss1, rss1 - rss0, a.page_size,
        pending_pages.pages, pending_pages.total, pending_pages.p50, pending_pages.max, completed_pages.pages,
        completed_pages.total, completed_pages.p50, completed_pages.max, snap_bytes, encode_ms, write_ms, load_ms,
        decode_ms, restore_ms, pieces_ms, pieces, piece_max_ms, write_pieces_ms, write_piece_max_ms,
        requeue_ms.size(), requeue_p50, requeue_max, a.data_dir.c_str());
    return 0;
  }
  std::printf("jobs %zu (pending %llu, assigned %llu, running %llu, completed %llu, failed %llu, cancelled %llu), "
              "applied index %llu, built in %.0f ms\n",
              table.size(), (unsigned long long)counts[1], (unsigned long long)counts[6],
              (unsigned long long)counts[2], (unsigned long long)counts[3], (unsigned long long)counts[4],
              (unsigned long long)counts[5], (unsigned long long)table.applied_index(), build_ms);
  std::printf("RSS %.1f -> %.1f MiB (+%.1f MiB, %.0f bytes/job)\n", rss0, rss1, rss1 - rss0,
              (rss1 - rss0) * 1048576.0 / static_cast<double>(table.size()));
  std::printf("list, %u per page, status pending:   %d pages of %u, p50 %.3f ms, max %.3f ms\n", a.page_size,
              pending_pages.pages, pending_pages.total, pending_pages.p50, pending_pages.max);
  std::printf("list, %u per page, status completed: %d pages of %u, p50 %.3f ms, max %.3f ms\n", a.page_size,
              completed_pages.pages, completed_pages.total, completed_pages.p50, completed_pages.max);
  std::printf("snapshot %.1f MiB: encode %.0f ms, write+fsync %.0f ms, read %.0f ms, decode %.0f ms, "
              "restore (decode + indexes) %.0f ms\n",
              static_cast<double>(snap_bytes) / 1048576.0, encode_ms, write_ms, load_ms, decode_ms, restore_ms);
  std::printf("snapshot in pieces, as the node takes it: encode %.0f ms in %d pieces (longest %.1f ms), "
              "write+fsync %.0f ms (longest piece %.1f ms)\n",
              pieces_ms, pieces, piece_max_ms, write_pieces_ms, write_piece_max_ms);
  std::printf("re-queue of worker 2's jobs in entries of %zu: %zu entries, apply p50 %.2f ms, max %.2f ms\n",
              config::requeue_batch_jobs, requeue_ms.size(), requeue_p50, requeue_max);
  if (!a.data_dir.empty()) std::printf("data dir for a 1-node troupe-node (id 1): %s\n", a.data_dir.c_str());
  return 0;
}
