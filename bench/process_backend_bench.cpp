// Runs N `true` jobs through the process backend with K in flight and prints
// jobs/s and CPU per job: the node-side process (this one: user+sys), its
// children (shims and jobs), and the whole machine (/proc/stat).
//
// The node is a large, many-threaded process, and that is what made a fork
// per job expensive (page tables copied, then copy-on-write faults with TLB
// shootdowns on every thread): the bench pads itself to look alike, with
// BALLAST_MB of touched memory and IDLE_THREADS sleeping threads.
//
// usage: bench_process_backend [N=2000] [K=64] [mode=async|threads]
//                              [BALLAST_MB=64] [IDLE_THREADS=32] [record=0|1]
//                              [command=true] [cpus=]
//   async    backend::start, results by callback (what job_executor does)
//   threads  K threads each calling the blocking run() (the old executor:
//            one thread per job); builds against the old backend too
//   record   1: each job also records its start durably (as in the node)
//   command  each job's command: `/bin/true` runs without a shell, `/bin/true;`
//            through one (runtime/exec/direct_command.hpp)
//   cpus     a CPU list ("1", "0-3,6"): the jobs run only there
//            ([executor.process] cpus); empty: any CPU
//
// Run it as root for the production setting (jobs switch to "nobody").
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef BENCH_HAVE_CPUS
#include "config/cpu_list.hpp"
#endif
#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_backend.hpp"
#include "runtime/exec/start_journal.hpp"

using namespace troupe::exec;

namespace {

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Busy and total jiffies of the whole machine.
std::pair<double, double> machine_jiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double v[10] = {};
  in >> cpu;
  for (double& x : v) in >> x;
  double total = 0;
  for (double x : v) total += x;
  double idle = v[3] + v[4];
  return {total - idle, total};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int k = argc > 2 ? std::atoi(argv[2]) : 64;
  const std::string mode = argc > 3 ? argv[3] : "async";
  const long ballast_mb = argc > 4 ? std::atol(argv[4]) : 64;
  const int idle_threads = argc > 5 ? std::atoi(argv[5]) : 32;
  const bool record = argc > 6 && std::atoi(argv[6]) != 0;
  const std::string command = argc > 7 ? argv[7] : "true";
  const std::string cpus = argc > 8 ? argv[8] : "";
#ifdef BENCH_HAVE_CPUS
  std::vector<unsigned> cpu_list;
  if (!cpus.empty()) {
    std::string error;
    auto list = troupe::config::parse_cpu_list(cpus, error);
    if (!list) {
      std::fprintf(stderr, "cpus: %s\n", error.c_str());
      return 2;
    }
    cpu_list = *list;
  }
#endif

  std::vector<char> ballast(static_cast<std::size_t>(ballast_mb) << 20);
  for (std::size_t i = 0; i < ballast.size(); i += 4096) ballast[i] = 1;
  std::atomic<bool> quit{false};
  std::vector<std::thread> idle;
  for (int i = 0; i < idle_threads; ++i)
    idle.emplace_back([&] {
      while (!quit) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });

  char tmpl[] = "/tmp/bench-process-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  ::chmod(dir.c_str(), 0711);
  process_options o;
  o.work_dir = dir + "/work";
#ifdef BENCH_HAVE_CPUS
  o.cpus = cpu_list;
#else
  if (!cpus.empty()) std::fprintf(stderr, "this backend has no cpus option; ignored\n");
#endif
  process_backend b(o);
  auto journal = record ? std::make_shared<start_journal>(dir + "/outputs") : nullptr;

  auto spec_for = [&](int i) {
    job_spec s;
    s.job_id = "b" + std::to_string(i);
    s.node_id = 1;
    s.command = command;
    s.timeout = std::chrono::seconds(60);
    s.output_dir = dir + "/outputs";
    return s;
  };

  const double self0 = cpu_seconds(RUSAGE_SELF), kids0 = cpu_seconds(RUSAGE_CHILDREN);
  const auto m0 = machine_jiffies();
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<int> failed{0};
  if (mode == "threads") {
    std::atomic<int> next{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < k; ++w)
      workers.emplace_back([&] {
        for (int i; (i = next++) < n;) {
          cancel_token c;
          if (record) journal->record("b" + std::to_string(i), 0);
          if (b.run(spec_for(i), c).result != outcome::completed) ++failed;
        }
      });
    for (auto& w : workers) w.join();
  } else {
#ifdef BENCH_HAVE_START
    std::mutex m;
    std::condition_variable cv;
    int in_flight = 0, done = 0;
    for (int i = 0; i < n; ++i) {
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return in_flight < k; });
        ++in_flight;
      }
      auto s = spec_for(i);
      s.journal = journal;
      b.start(s, std::make_shared<cancel_token>(), [&](job_result r) {
        if (r.result != outcome::completed) ++failed;
        std::lock_guard<std::mutex> lock(m);
        --in_flight;
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done == n; });
#else
    std::fprintf(stderr, "this build has no backend::start; use mode threads\n");
    return 2;
#endif
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double self = cpu_seconds(RUSAGE_SELF) - self0, kids = cpu_seconds(RUSAGE_CHILDREN) - kids0;
  const auto m1 = machine_jiffies();
  const double machine_busy = (m1.first - m0.first) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  quit = true;
  for (auto& t : idle) t.join();
  std::printf("mode=%s n=%d k=%d ballast=%ldMB idle_threads=%d record=%d command='%s' failed=%d\n", mode.c_str(), n, k,
              ballast_mb, idle_threads, record ? 1 : 0, command.c_str(), failed.load());
  std::printf("wall %.2f s, %.0f jobs/s\n", wall, n / wall);
  std::printf("cpu per job: node %.0f us, children %.0f us, machine %.0f us\n", self / n * 1e6, kids / n * 1e6,
              machine_busy / n * 1e6);
  // KEEP=1 leaves the files: deleting many inodes slows the next run's
  // creations on a journal-less ext4 for minutes (docs/BENCHMARKS.md).
  if (const char* keep = std::getenv("KEEP"); keep && std::string(keep) == "1") {
    std::printf("kept %s\n", dir.c_str());
    return failed == 0 ? 0 : 1;
  }
  std::string rm = "rm -rf '" + dir + "'";
  return std::system(rm.c_str()) == 0 && failed == 0 ? 0 : 1;
}
