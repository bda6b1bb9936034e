#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <sched.h>
#include <fstream>
#include <sstream>
#include <thread>
#include <dirent.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "runtime/exec/output_store.hpp"
#include "runtime/exec/process_backend.hpp"
#include "runtime/exec/spawn.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::entries_of;
using troupe::exec::test::slurp;
using troupe::exec::test::options_in;
using troupe::exec::test::processes_running;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::eventually;
using troupe::exec::test::seconds_since;

namespace {

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

std::unique_ptr<backend> backend_in(const scratch_dir& dir) { return make_process_backend(options_in(dir)); }

// A job leaving behind processes that escape its process group and session:
// `setsid sleep A &`, a subshell's `setsid sh -c 'sleep B'` (re-parented when
// the subshell exits) and a double-fork daemon `sleep C`; then `tail` runs.
std::string escaping_job(int a, int b, int c, const std::string& tail) {
  return "setsid sleep " + std::to_string(a) + " & (setsid sh -c 'sleep " + std::to_string(b) + "' &) ; sh -c '(sleep " +
         std::to_string(c) + " &) &' ; " + tail;
}

bool all_started(int a, int b, int c) {
  return !processes_running({"sleep", std::to_string(a)}).empty() &&
         !processes_running({"sleep", std::to_string(b)}).empty() &&
         !processes_running({"sleep", std::to_string(c)}).empty();
}

bool none_left(int a, int b, int c) {
  return processes_running({"sleep", std::to_string(a)}).empty() &&
         processes_running({"sleep", std::to_string(b)}).empty() &&
         processes_running({"sleep", std::to_string(c)}).empty();
}

}  // namespace

TEST_CASE("process: stdout and stderr are captured separately; exit 0 completes") {
  scratch_dir dir;
  auto b = backend_in(dir);
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
}

TEST_CASE("process: output the result carries only in part is stored whole; output it carries whole is not") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  auto spec = make_spec(dir, "p-cut", "echo out-line; echo err-line >&2; echo more-out");
  spec.inline_limit = 4;
  job_result r = b->run(spec, cancel);
  CHECK(r.stdout_inline == "out-");
  CHECK(r.stderr_inline == "err-");
  CHECK_FALSE(r.truncated);  // under the cap: cut inline only
  stored_output s = read_output(spec.output_dir, "p-cut");
  CHECK(s.found);
  CHECK(s.stdout_data == "out-line\nmore-out\n");
  CHECK(s.stderr_data == "err-line\n");
  // All of it inline: the log will hold it, nobody reads the disk for it,
  // so no meta.json (what marks stored output complete) is written.
  spec = make_spec(dir, "p-whole", "echo out-line; echo err-line >&2");
  r = b->run(spec, cancel);
  CHECK(r.stdout_inline == "out-line\n");
  CHECK(r.stderr_inline == "err-line\n");
  struct stat st;
  CHECK(::lstat((spec.output_dir + "/p-whole/meta.json").c_str(), &st) != 0);
  CHECK_FALSE(read_output(spec.output_dir, "p-whole").found);
}

TEST_CASE("process: a job that writes nothing leaves nothing in the output directory") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  auto spec = make_spec(dir, "p-quiet", "true");
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_bytes == 0);
  CHECK(r.stderr_bytes == 0);
  const std::string job = spec.output_dir + "/p-quiet";
  struct stat st;
  CHECK(::lstat((job + "/meta.json").c_str(), &st) != 0);
  CHECK(::lstat((job + "/stdout").c_str(), &st) != 0);
  CHECK(::lstat((job + "/stderr").c_str(), &st) != 0);
  CHECK(::lstat(job.c_str(), &st) != 0);  // not even its directory: no inode for a quiet job
  CHECK_FALSE(r.truncated);  // so nobody asks for its stored output
}

TEST_CASE("process: a non-zero exit code fails the job and is reported") {
  scratch_dir dir;
  auto b = backend_in(dir);
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
  auto b = backend_in(dir);
  cancel_token cancel;
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(make_spec(dir, "p-stdin", "cat; echo end"), cancel);
  CHECK(seconds_since(t0) < 5.0);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == "end\n");
}

TEST_CASE("process: a job's programs start with every signal at its default and none blocked, whatever the node's") {
  // The shim itself ignores a terminal's signals and SIGPIPE, and blocks
  // SIGCHLD; none of that may reach the job. The node's own dispositions do
  // not either (it ignores SIGPIPE; here SIGHUP and SIGUSR1 as well).
  scratch_dir dir;
  auto old_hup = std::signal(SIGHUP, SIG_IGN);
  auto old_usr1 = std::signal(SIGUSR1, SIG_IGN);
  auto b = backend_in(dir);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-signals", "grep -E '^Sig(Blk|Ign):' /proc/self/status"), cancel);
  std::signal(SIGHUP, old_hup);
  std::signal(SIGUSR1, old_usr1);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("process: timeout kills the job and says so") {
  scratch_dir dir;
  auto b = backend_in(dir);
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
  auto b = backend_in(dir);
  cancel_token cancel;
  std::string pidfile = dir.path() + "/shared/grandchild.pid";
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
  auto b = backend_in(dir);
  cancel_token cancel;
  std::string pidfile = dir.path() + "/shared/bg.pid";
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
  auto b = backend_in(dir);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-signal", "echo bye; kill -9 $$"), cancel);
  CHECK(r.result == outcome::failed);
  CHECK_FALSE(r.exit_code.has_value());
  CHECK(r.error == "killed by signal 9");
  CHECK(r.stdout_inline == "bye\n");
}

TEST_CASE("process: output over the cap is truncated on disk and reported with the true sizes") {
  scratch_dir dir;
  auto b = backend_in(dir);
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

TEST_CASE("process: with cpus set, every job and what it starts runs only on those CPUs; a list none of which is usable is an error") {
  scratch_dir dir;
  cpu_set_t mine;
  CPU_ZERO(&mine);
  REQUIRE(::sched_getaffinity(0, sizeof mine, &mine) == 0);
  unsigned last = 0;  // the highest CPU this test may use: 0 on a one-CPU machine
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &mine)) last = c;
  auto allowed_line = [](const std::string& status) {
    const auto at = status.find("Cpus_allowed_list:");
    return at == std::string::npos ? std::string() : status.substr(at, status.find('\n', at) + 1 - at);
  };
  cancel_token cancel;
  const std::string probe = "grep Cpus_allowed_list /proc/self/status";

  process_options opts = options_in(dir);
  opts.cpus = {last};
  auto pinned = make_process_backend(opts);
  const std::string want = "Cpus_allowed_list:\t" + std::to_string(last) + "\n";
  // Through the shell, a process the shell starts, and a program run without the shell.
  job_result r = pinned->run(make_spec(dir, "p-cpus", probe + "; sh -c '" + probe + "'"), cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == want + want);
  job_result direct = pinned->run(make_spec(dir, "p-cpus-direct", probe), cancel);
  CHECK(direct.stdout_inline == want);

  // Without the option a job may use every CPU the node may.
  auto plain = make_process_backend(options_in(dir));
  job_result any = plain->run(make_spec(dir, "p-cpus-any", probe), cancel);
  CHECK(any.stdout_inline == allowed_line(slurp("/proc/self/status")));

  // A list naming no CPU this process may use: the backend does not start.
  unsigned unusable = CPU_SETSIZE - 1;
  REQUIRE_FALSE(CPU_ISSET(unusable, &mine));
  opts.cpus = {unusable};
  std::string error;
  try {
    make_process_backend(opts);
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  CHECK(error.find("cannot run jobs on CPUs 1023 ([executor.process] cpus)") == 0);
  CHECK(error.find("none of them is online and allowed to this node") != std::string::npos);
}

TEST_CASE("process: rlimits are applied to the job") {
  scratch_dir dir;
  process_options opts = options_in(dir);
  opts.rlimit_as_bytes = 64ull << 20;
  opts.cpu_s = 1;
  opts.max_processes = 4096;
  opts.max_file_bytes = 1 << 20;
  // At the default nice 10 the CPU loop below got a few percent of a CPU
  // beside busy neighbours, and its 1 s of CPU outlasted the 20 s timeout.
  opts.nice = 0;
  auto b = make_process_backend(opts);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-limits",
                                  "ulimit -v; ulimit -t; ulimit -f; ulimit -c; grep 'Max processes' /proc/self/limits"),
                        cancel);
  CHECK(r.result == outcome::completed);
  // ulimit -f counts 512-byte blocks.
  CHECK(r.stdout_inline.find("65536\n1\n2048\n0\nMax processes             4096                 4096") == 0);

  // Allocation beyond RLIMIT_AS fails inside the job (tail must buffer a
  // 200 MB line), so the job fails instead of growing.
  job_result mem = b->run(make_spec(dir, "p-as", "head -c 200000000 /dev/zero | tail -n 1 > /dev/null"), cancel);
  CHECK(mem.result == outcome::failed);
  CHECK(mem.exit_code.has_value());
  CHECK(mem.stderr_inline.find("tail") != std::string::npos);

  // A CPU-bound loop is stopped by RLIMIT_CPU (SIGXCPU), not by the timeout.
  job_result cpu = b->run(make_spec(dir, "p-cpu", "while :; do :; done", 20s), cancel);
  CHECK(cpu.result == outcome::failed);
  CHECK_FALSE(cpu.timed_out);
  CHECK(cpu.error == "killed by signal " + std::to_string(SIGXCPU) + " (SIGXCPU: the CPU time limit of 1 s was reached)");

  // Without cpu_s, the CPU limit is the job's timeout.
  auto plain = make_process_backend(options_in(dir));
  job_result t = plain->run(make_spec(dir, "p-cpu-default", "ulimit -t", 17s), cancel);
  CHECK(t.stdout_inline == "17\n");
}

TEST_CASE("process: cancel before start runs nothing") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  cancel.cancel();
  std::string marker = dir.path() + "/shared/ran";
  job_result r = b->run(make_spec(dir, "p-precancel", "touch " + marker), cancel);
  CHECK(r.result == outcome::cancelled);
  CHECK(slurp(marker).empty());
  std::ifstream probe(marker);
  CHECK_FALSE(probe.good());
}

TEST_CASE("process: nothing survives a run, so there are no orphans") {
  scratch_dir dir;
  auto b = backend_in(dir);
  CHECK(b->orphaned_jobs(7).empty());
  b->remove_job_artifacts("anything");
}

TEST_CASE("process: a kill request to a shim that has just exited fails quietly, raising no SIGPIPE") {
  // The cancel callback can race the shim's exit (its report not read yet).
  // This process keeps SIGPIPE's default action: it would die of one.
  const bool default_action = std::signal(SIGPIPE, SIG_DFL) != SIG_ERR;
  REQUIRE(default_action);
  int p[2];
  REQUIRE(::pipe(p) == 0);
  ::close(p[0]);  // the shim is gone
  request_kill(p[1]);
  request_kill(p[1]);  // and again: still alive
  ::close(p[1]);
  sigset_t pending;
  sigpending(&pending);
  CHECK(sigismember(&pending, SIGPIPE) == 0);
}

TEST_CASE("process: invalid specs are refused with the reason") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  CHECK(b->run(make_spec(dir, "p-empty", ""), cancel).error == "job p-empty has an empty command");
  CHECK(b->run(make_spec(dir, "p-zero", "true", 0s), cancel).error == "job p-zero has a non-positive timeout (0 s)");
  auto spec = make_spec(dir, "p-nodir", "echo out");
  spec.output_dir = "/proc/not-a-place";
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::failed);
  CHECK(r.error.find("cannot create directory /proc/not-a-place") == 0);
  // A job that stores nothing needs no directory: it is made with the first byte.
  spec = make_spec(dir, "p-nodir-quiet", "true");
  spec.output_dir = "/proc/not-a-place";
  CHECK(b->run(spec, cancel).result == outcome::completed);
}

// ---- the sandbox (issue 11): user, environment, working directory, escapes ----

TEST_CASE("process: a root node runs jobs as nobody, without supplementary groups") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: the node does not run as root here");
    return;
  }
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-user", "id -u; id -g; id -G; cat /proc/self/status | grep NoNewPrivs"), cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == "65534\n65534\n65534\nNoNewPrivs:\t1\n");
  // Not even a setuid binary gives root back.
  job_result su = b->run(make_spec(dir, "p-su", "su -c 'id -u' root </dev/null"), cancel);
  CHECK(su.result == outcome::failed);
  CHECK(su.stdout_inline.find("0\n") == std::string::npos);
}

TEST_CASE("process: the job's environment is the fixed minimal set, none of the node's") {
  scratch_dir dir;
  ::setenv("TROUPE_TEST_SECRET", "hunter2-node-secret", 1);
  auto b = backend_in(dir);
  cancel_token cancel;
  auto spec = make_spec(dir, "p-env", "env");
  spec.attempt = 3;
  job_result r = b->run(spec, cancel);
  ::unsetenv("TROUPE_TEST_SECRET");
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline.find("hunter2") == std::string::npos);
  CHECK(r.stdout_inline.find("TROUPE_TEST_SECRET") == std::string::npos);
  std::set<std::string> vars;
  std::istringstream lines(r.stdout_inline);
  for (std::string line; std::getline(lines, line);) vars.insert(line);
  const std::string job_dir = dir.path() + "/work/node-7/slot-0";
  // PWD is what the shell exports; the backend sets it too, for a program
  // the shim runs without the shell (`env` is one).
  std::set<std::string> expected = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + job_dir, "LANG=C.UTF-8",
                                    "TROUPE_JOB_ID=p-env", "TMPDIR=" + job_dir, "PWD=" + job_dir};
  CHECK(vars == expected);
  // The same through the shell, in the same order.
  job_result via_shell = b->run(make_spec(dir, "p-env", "env; true"), cancel);
  CHECK(via_shell.stdout_inline == r.stdout_inline);
}

TEST_CASE("process: the job runs in an empty private directory under work_dir, emptied afterwards") {
  scratch_dir dir;
  auto opts = options_in(dir);
  auto b = make_process_backend(opts);
  cancel_token cancel;
  auto spec = make_spec(dir, "p-pwd", "pwd; stat -c '%a %u' .; ls -A | wc -l; echo data > file; mkdir -p a/b/c; "
                                      "ln -s /etc/passwd link; ln -s " + dir.path() + "/shared outside");
  spec.attempt = 2;
  const std::string job_dir = opts.work_dir + "/node-7/slot-0";
  std::ofstream(dir.path() + "/shared/keep") << "must survive";
  job_result r = b->run(spec, cancel);
  CHECK(r.result == outcome::completed);
  const std::string uid = std::to_string(::geteuid() == 0 ? 65534 : ::geteuid());
  CHECK(r.stdout_inline == job_dir + "\n700 " + uid + "\n0\n");
  CHECK(r.stdout_inline.find(spec.output_dir) == std::string::npos);
  // Emptied, symlinks not followed, and the node's again while idle:
  struct stat st;
  REQUIRE(::lstat(job_dir.c_str(), &st) == 0);
  CHECK(st.st_uid == ::geteuid());
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(entries_of(job_dir).empty());
  CHECK(slurp(dir.path() + "/shared/keep") == "must survive");
  CHECK(::lstat("/etc/passwd", &st) == 0);
  // The node's own directories: the node's, enterable but not writable by jobs.
  REQUIRE(::lstat((opts.work_dir + "/node-7").c_str(), &st) == 0);
  CHECK(st.st_uid == ::geteuid());
  CHECK((st.st_mode & 0777) == 0711);
}

TEST_CASE("process: a job whose directory its user cannot reach fails with the reason") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs a root node (jobs run as the node's user otherwise)");
    return;
  }
  scratch_dir dir;  // 0700 root: nobody cannot enter it
  process_options o;
  o.work_dir = dir.path() + "/work";
  auto b = make_process_backend(o);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-noreach", "echo never"), cancel);
  CHECK(r.result == outcome::failed);
  CHECK(r.error == "cannot start the job: cannot enter working directory " + o.work_dir +
                       "/node-7/slot-0: Permission denied");
  CHECK(r.stdout_inline.empty());
}

TEST_CASE("process: setsid and double-fork escapes do not survive cancel") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  job_result r;
  std::thread runner([&] { r = b->run(make_spec(dir, "p-esc-cancel", escaping_job(3101, 3102, 3103, "sleep 60"), 60s), cancel); });
  CHECK(eventually([] { return all_started(3101, 3102, 3103); }, 5.0));
  cancel.cancel();
  runner.join();
  CHECK(r.result == outcome::cancelled);
  CHECK(eventually([] { return none_left(3101, 3102, 3103); }));
}

TEST_CASE("process: setsid and double-fork escapes do not survive a timeout") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  job_result r;
  std::thread runner([&] { r = b->run(make_spec(dir, "p-esc-timeout", escaping_job(3201, 3202, 3203, "sleep 60"), 2s), cancel); });
  CHECK(eventually([] { return all_started(3201, 3202, 3203); }, 5.0));
  runner.join();
  CHECK(r.timed_out);
  CHECK(r.error == "timed out after 2 s");
  CHECK(eventually([] { return none_left(3201, 3202, 3203); }));
}

TEST_CASE("process: setsid and double-fork escapes do not survive completion") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  job_result r;
  bool seen = false;
  std::thread runner([&] { r = b->run(make_spec(dir, "p-esc-done", escaping_job(3301, 3302, 3303, "sleep 1; echo done")), cancel); });
  seen = eventually([] { return all_started(3301, 3302, 3303); }, 5.0);
  runner.join();
  CHECK(seen);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == "done\n");
  CHECK(eventually([] { return none_left(3301, 3302, 3303); }));
}

TEST_CASE("process: a fork bomb hits RLIMIT_NPROC; nothing of it survives") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: RLIMIT_NPROC would count the test's own processes");
    return;
  }
  scratch_dir dir;
  auto opts = options_in(dir);
  opts.max_processes = 40;
  auto b = make_process_backend(opts);
  cancel_token cancel;
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(make_spec(dir, "p-bomb", "for i in $(seq 1000); do sleep 3401 & done; echo looped", 30s), cancel);
  CHECK(seconds_since(t0) < 20.0);
  CHECK(r.result == outcome::failed);
  CHECK(r.stderr_inline.find("fork") != std::string::npos);
  CHECK(eventually([] { return processes_running({"sleep", "3401"}).empty(); }));
  // The backend still runs jobs.
  job_result after = b->run(make_spec(dir, "p-after-bomb", "echo fine"), cancel);
  CHECK(after.stdout_inline == "fine\n");
}

TEST_CASE("process: a file beyond max_file_bytes fails the job (SIGXFSZ, or EFBIG when ignored)") {
  scratch_dir dir;
  auto opts = options_in(dir);
  opts.max_file_bytes = 1 << 20;
  auto b = make_process_backend(opts);
  cancel_token cancel;
  job_result r = b->run(make_spec(dir, "p-big", "head -c 2G /dev/zero > big"), cancel);
  CHECK(r.result == outcome::failed);
  // sh forks head for the redirection: the shell reports 128 + SIGXFSZ.
  CHECK(r.error == "exited with code 153 (a command was killed by signal " + std::to_string(SIGXFSZ) +
                       " (SIGXFSZ: a file reached the size limit of 1048576 bytes, [executor.process] max_file_bytes))");
  job_result direct = b->run(make_spec(dir, "p-big-exec", "exec head -c 2G /dev/zero > big"), cancel);
  CHECK(direct.error == "killed by signal " + std::to_string(SIGXFSZ) +
                            " (SIGXFSZ: a file reached the size limit of 1048576 bytes, [executor.process] max_file_bytes)");
  job_result ignored = b->run(
      make_spec(dir, "p-big-efbig", "trap '' XFSZ; head -c 2G /dev/zero > big; rc=$?; stat -c %s big; exit $rc"), cancel);
  CHECK(ignored.result == outcome::failed);
  CHECK(ignored.stderr_inline.find("File too large") != std::string::npos);
  CHECK(ignored.stdout_inline == "1048576\n");
}

TEST_CASE("process: the job user is resolved at start, with clear errors") {
  CHECK_THROWS_WITH(resolve_job_user("no-such-user-troupe"),
                    doctest::Contains("[executor.process] user \"no-such-user-troupe\" does not exist"));
  if (::geteuid() == 0) {
    auto u = resolve_job_user("");
    CHECK(u.name == "nobody");
    CHECK(u.uid == 65534);
    CHECK(u.switch_user);
    CHECK_THROWS_WITH(resolve_job_user("root"), doctest::Contains("is root (uid 0); jobs must run as an unprivileged user"));
  } else {
    auto u = resolve_job_user("");
    CHECK(u.uid == ::geteuid());
    CHECK_FALSE(u.switch_user);
    CHECK_THROWS_WITH(resolve_job_user("root"), doctest::Contains("needs the node to run as root"));
  }
}

TEST_CASE("process: work_dir must be the node's and not writable by others") {
  scratch_dir dir;
  std::string open_dir = dir.path() + "/open";
  ::mkdir(open_dir.c_str(), 0777);
  ::chmod(open_dir.c_str(), 0777);
  process_options o;
  o.work_dir = open_dir;
  CHECK_THROWS_WITH(make_process_backend(o), doctest::Contains("is writable by other users (mode 777)"));
  std::string link = dir.path() + "/link";
  REQUIRE(::symlink(dir.path().c_str(), link.c_str()) == 0);
  o.work_dir = link;
  CHECK_THROWS_WITH(make_process_backend(o), doctest::Contains("is not a directory (or is a symlink)"));
}

TEST_CASE("remove_tree: deletes deep trees and never follows symlinks") {
  scratch_dir dir;
  std::string outside = dir.path() + "/outside";
  ::mkdir(outside.c_str(), 0700);
  std::ofstream(outside + "/precious") << "keep";
  std::string root = dir.path() + "/victim";
  std::string p = root;
  ::mkdir(p.c_str(), 0700);
  for (int i = 0; i < 100; ++i) {  // deeper than the flattening depth
    p += "/d";
    REQUIRE(::mkdir(p.c_str(), 0700) == 0);
  }
  std::ofstream(p + "/leaf") << "x";
  REQUIRE(::symlink(outside.c_str(), (root + "/to-outside").c_str()) == 0);
  REQUIRE(::symlink((outside + "/precious").c_str(), (p + "/to-precious").c_str()) == 0);
  ::chmod((root + "/d").c_str(), 0);  // unreadable directories are opened anyway
  remove_tree(root);
  struct stat st;
  CHECK(::lstat(root.c_str(), &st) != 0);
  CHECK(slurp(outside + "/precious") == "keep");
  remove_tree(root);  // gone already: no error
}

TEST_CASE("process: output the disk refuses fails the job, which is stopped, not the node") {
  scratch_dir dir;
  auto b = backend_in(dir);
  cancel_token cancel;
  auto spec = make_spec(dir, "p-full", "echo hi; sleep 3501", 30s);
  ::mkdir(spec.output_dir.c_str(), 0755);
  ::mkdir((spec.output_dir + "/p-full").c_str(), 0755);
  REQUIRE(::symlink("/dev/full", (spec.output_dir + "/p-full/stdout").c_str()) == 0);  // writes: ENOSPC
  auto t0 = std::chrono::steady_clock::now();
  job_result r = b->run(spec, cancel);
  CHECK(seconds_since(t0) < 5.0);
  CHECK(r.result == outcome::failed);
  CHECK(r.error == "job output could not be stored: no space left on device (" + spec.output_dir + "/p-full/stdout)");
  CHECK(eventually([] { return processes_running({"sleep", "3501"}).empty(); }));
  CHECK(b->run(make_spec(dir, "p-after-full", "echo fine"), cancel).stdout_inline == "fine\n");
}
