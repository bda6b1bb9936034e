#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_backend.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::seconds_since;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// True once pid is gone or a zombie; waits at most 3 s (reparented processes
// are reaped by whoever is PID 1 here, which may take a moment).
bool process_dies(pid_t pid) {
  auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < 3.0) {
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    auto close_paren = stat.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] == 'Z') return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

pid_t read_pid(const std::string& path) {
  auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < 3.0) {
    std::string s = slurp(path);
    if (!s.empty() && s.back() == '\n') return static_cast<pid_t>(std::stol(s));
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

}  // namespace

TEST_CASE("process: stdout and stderr are captured separately; exit 0 completes") {
  scratch_dir dir;
  auto b = make_process_backend({});
  CHECK(b->name() == "process");
  CHECK(b->healthy());
  cancel_token cancel;
  auto spec = make_spec(dir, "p-ok", "echo out-line; echo err-line >&2; echo more-out");
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::completed);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 0);
  CHECK(r.error.empty());
  CHECK(r.stdout_inline == "out-line\nmore-out\n");
  CHECK(r.stderr_inline == "err-line\n");
  CHECK(r.stdout_bytes == 18);
  CHECK_FALSE(r.truncated);
  stored_output s = read_output(spec.output_dir, "p-ok");
  CHECK(s.found);
  CHECK(s.stdout_data == "out-line\nmore-out\n");
  CHECK(s.stderr_data == "err-line\n");
}

TEST_CASE("process: a non-zero exit code fails the job and is reported") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-exit3", "echo before; exit 3"), cancel);
  CHECK(r.result == outcome::failed);
  REQUIRE(r.exit_code.has_value());
  CHECK(*r.exit_code == 3);
  CHECK(r.error == "exited with code 3");
  CHECK(r.stdout_inline == "before\n");
}

TEST_CASE("process: the job's stdin is empty, not the node's") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(make_spec(dir, "p-stdin", "cat; echo end"), cancel);
  CHECK(seconds_since(t0) < 5.0);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == "end\n");
}

TEST_CASE("process: timeout kills the job and says so") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(make_spec(dir, "p-timeout", "echo started; sleep 10", 1s), cancel);
  double took = seconds_since(t0);
  CHECK(took >= 0.9);
  CHECK(took < 3.0);
  CHECK(r.result == outcome::failed);
  CHECK(r.timed_out);
  CHECK(r.error == "timed out after 1 s");
  CHECK_FALSE(r.exit_code.has_value());
  CHECK(r.stdout_inline == "started\n");
}

TEST_CASE("process: cancel kills the whole process group, grandchildren included") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  std::string pidfile = dir.path() + "/grandchild.pid";
  // The backgrounded sleep is a grandchild of the node; the foreground one a child.
  auto spec = make_spec(dir, "p-cancel", "sleep 100 & echo $! > " + pidfile + "; sleep 100", 60s);
  job_result r;
  auto t0 = std::chrono::steady_clock::now();
  std::thread runner([&] { r = b->run(spec, cancel); });
  pid_t grandchild = read_pid(pidfile);
  CHECK(grandchild > 0);
  auto cancelled_at = std::chrono::steady_clock::now();
  cancel.cancel();
  runner.join();
  CHECK(seconds_since(cancelled_at) < 1.0);
  CHECK(seconds_since(t0) < 5.0);
  CHECK(r.result == outcome::cancelled);
  CHECK_FALSE(r.timed_out);
  if (grandchild > 0) CHECK(process_dies(grandchild));
}

TEST_CASE("process: background processes do not outlive the job or hold it open") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  std::string pidfile = dir.path() + "/bg.pid";
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(make_spec(dir, "p-bg", "sleep 100 & echo $! > " + pidfile + "; echo done"), cancel);
  CHECK(seconds_since(t0) < 3.0);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == "done\n");
  pid_t bg = read_pid(pidfile);
  REQUIRE(bg > 0);
  CHECK(process_dies(bg));
}

TEST_CASE("process: death by signal is reported with the signal number") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-signal", "echo bye; kill -9 $$"), cancel);
  CHECK(r.result == outcome::failed);
  CHECK_FALSE(r.exit_code.has_value());
  CHECK(r.error == "killed by signal 9");
  CHECK(r.stdout_inline == "bye\n");
}

TEST_CASE("process: output over the cap is truncated on disk and reported with the true sizes") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  auto spec = make_spec(dir, "p-cap", "head -c 3000000 /dev/zero; head -c 1500000 /dev/zero >&2; echo tail-err >&2");
  spec.output_cap_bytes = 1 << 20;
  spec.inline_limit = 1000;
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.truncated);
  CHECK(r.stdout_bytes == 3000000);
  CHECK(r.stderr_bytes == 1500000 + 9);
  CHECK(r.stdout_inline.size() == 1000);
  stored_output s = read_output(spec.output_dir, "p-cap");
  CHECK(s.truncated);
  CHECK(s.stdout_data.size() == (1u << 20));
  CHECK(s.stderr_data.size() == (1u << 20));
  CHECK(s.stdout_bytes == 3000000);
}

TEST_CASE("process: rlimits are applied to the job") {
  scratch_dir dir;
  process_options opts;
  opts.rlimit_as_bytes = 64ull << 20;
  opts.rlimit_cpu_seconds = 1;
  opts.rlimit_nproc = 4096;
  auto b = make_process_backend(opts);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-limits", "ulimit -v; ulimit -t; grep 'Max processes' /proc/self/limits"),
                        cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline.find("65536\n1\nMax processes             4096                 4096") == 0);

  // Allocation beyond RLIMIT_AS fails inside the job (tail must buffer a
  // 200 MB line), so the job fails instead of growing.
  job_result mem = b->run(make_spec(dir, "p-as", "head -c 200000000 /dev/zero | tail -n 1 > /dev/null"), cancel);
  CHECK(mem.result == outcome::failed);
  CHECK(mem.exit_code.has_value());
  CHECK(mem.stderr_inline.find("tail") != std::string::npos);

  // A CPU-bound loop is stopped by RLIMIT_CPU (SIGXCPU) long before the timeout.
  auto t0 = std::chrono::steady_clock::now();
  job_result cpu = b->run(make_spec(dir, "p-cpu", "while :; do :; done", 20s), cancel);
  CHECK(seconds_since(t0) < 10.0);
  CHECK(cpu.result == outcome::failed);
  CHECK_FALSE(cpu.timed_out);
  CHECK(cpu.error == "killed by signal " + std::to_string(SIGXCPU));
}

TEST_CASE("process: cancel before start runs nothing") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  cancel.cancel();
  std::string marker = dir.path() + "/ran";
  job_result r = b->run(make_spec(dir, "p-precancel", "touch " + marker), cancel);
  CHECK(r.result == outcome::cancelled);
  CHECK(slurp(marker).empty());
  std::ifstream probe(marker);
  CHECK_FALSE(probe.good());
}

TEST_CASE("process: nothing survives a run, so there are no orphans") {
  auto b = make_process_backend({});
  CHECK(b->orphaned_jobs(7).empty());
  b->remove_job_artifacts("anything");
}

TEST_CASE("process: invalid specs are refused with the reason") {
  scratch_dir dir;
  auto b = make_process_backend({});
  cancel_token cancel;
  CHECK(b->run(make_spec(dir, "p-empty", ""), cancel).error == "job p-empty has an empty command");
  CHECK(b->run(make_spec(dir, "p-zero", "true", 0s), cancel).error == "job p-zero has a non-positive timeout (0 s)");
  auto spec = make_spec(dir, "p-nodir", "true");
  spec.output_dir = "/proc/not-a-place";
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::failed);
  CHECK(r.error.find("cannot store output: cannot create directory /proc/not-a-place") == 0);
}
