// A plain external command runs without /bin/sh (runtime/exec/direct_command.hpp):
// the real process backend and shim, checked against what the shell does.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <sys/stat.h>
#include <thread>

#include "runtime/exec/direct_command.hpp"
#include "runtime/exec/process_backend.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::eventually;
using troupe::exec::test::make_spec;
using troupe::exec::test::options_in;
using troupe::exec::test::processes_running;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::slurp;

namespace {

// The name of the job's parent process, from the job's own "PPid:\tN\n" line.
std::string parent_name(const std::string& ppid_line) {
  const auto tab = ppid_line.find('\t');
  if (tab == std::string::npos) return "";
  return slurp("/proc/" + std::to_string(std::stol(ppid_line.substr(tab + 1))) + "/comm");
}

// Runs `command` until `argv` runs, sends it `sig`, returns the result.
job_result run_and_signal(backend& b, const scratch_dir& dir, const std::string& command,
                          const std::vector<std::string>& argv, int sig) {
  cancel_token cancel;
  job_result r;
  std::thread runner([&] { r = b.run(make_spec(dir, "p-sig", command, 60s), cancel); });
  bool started = eventually([&] { return processes_running(argv).size() == 1; });
  CHECK(started);
  for (pid_t pid : processes_running(argv)) ::kill(pid, sig);
  if (!started) cancel.cancel();
  runner.join();
  return r;
}

// A process backend in a scratch directory, for each case.
struct backend_fixture {
  scratch_dir dir;
  std::unique_ptr<backend> b = make_process_backend(options_in(dir));
  cancel_token cancel;
};

}  // namespace

TEST_CASE_FIXTURE(backend_fixture, "process: a plain external command runs without its shell; anything else with it") {
  // grep's parent is the shim (idle again, still alive) when nothing is between them.
  job_result direct = b->run(make_spec(dir, "p-direct", "grep PPid /proc/self/status"), cancel);
  CHECK(direct.result == outcome::completed);
  CHECK(parent_name(direct.stdout_inline) == "troupe-job-shim\n");
  // A second command: the shell runs grep, as its child.
  job_result shell = b->run(make_spec(dir, "p-shell", "grep PPid /proc/self/status; true"), cancel);
  CHECK(shell.result == outcome::completed);
  CHECK(shell.stdout_inline.rfind("PPid:\t", 0) == 0);
  CHECK(parent_name(shell.stdout_inline) != "troupe-job-shim\n");
  // Arguments as the shell splits them.
  job_result args = b->run(make_spec(dir, "p-args", "  /bin/echo a   b=c  --d,e+f%g@h:i 'x  $y;' z''w '' "), cancel);
  CHECK(args.result == outcome::completed);
  CHECK(args.stdout_inline == "a b=c --d,e+f%g@h:i x  $y; zw \n");
  job_result same = b->run(make_spec(dir, "p-args-sh", "/bin/echo a   b=c  --d,e+f%g@h:i 'x  $y;' z''w '' ;"), cancel);
  CHECK(same.stdout_inline == args.stdout_inline);
}

TEST_CASE_FIXTURE(backend_fixture, "process: what the shim cannot start without the shell, the shell starts or refuses as before") {

  job_result missing = b->run(make_spec(dir, "p-missing", "no-such-program-4711 x"), cancel);
  CHECK(missing.result == outcome::failed);
  REQUIRE(missing.exit_code.has_value());
  CHECK(*missing.exit_code == 127);
  CHECK(missing.stderr_inline == "/bin/sh: 1: no-such-program-4711: not found\n");

  job_result directory = b->run(make_spec(dir, "p-dir", "/tmp"), cancel);
  REQUIRE(directory.exit_code.has_value());
  CHECK(*directory.exit_code == 126);
  CHECK(directory.stderr_inline == "/bin/sh: 1: /tmp: Permission denied\n");

  // An executable file without #! is a script: execve refuses it (ENOEXEC),
  // the shell runs it.
  const std::string script = dir.path() + "/shared/no-shebang";
  std::ofstream(script) << "echo from-script \"$1\"\n";
  ::chmod(script.c_str(), 0755);
  job_result ran = b->run(make_spec(dir, "p-script", script + " arg1"), cancel);
  CHECK(ran.result == outcome::completed);
  CHECK(ran.stdout_inline == "from-script arg1\n");
}

TEST_CASE_FIXTURE(backend_fixture, "process: a program a signal ends is reported as the shell reports it") {
  // The shell's own report: its child killed, `exit $?` passes on its status.
  job_result shell = run_and_signal(*b, dir, "sleep 4711.1; exit $?", {"sleep", "4711.1"}, SIGTERM);
  job_result direct = run_and_signal(*b, dir, "sleep 4711.2", {"sleep", "4711.2"}, SIGTERM);
  REQUIRE(shell.exit_code.has_value());
  CHECK(*shell.exit_code == 143);
  CHECK(shell.stderr_inline == "Terminated\n");
  REQUIRE(direct.exit_code.has_value());
  CHECK(*direct.exit_code == 143);
  CHECK(direct.stderr_inline == "Terminated\n");
  CHECK(direct.error == shell.error);
  CHECK(direct.result == outcome::failed);

  // SIGINT: no line, from either.
  job_result shell_int = run_and_signal(*b, dir, "sleep 4711.3; exit $?", {"sleep", "4711.3"}, SIGINT);
  job_result direct_int = run_and_signal(*b, dir, "sleep 4711.4", {"sleep", "4711.4"}, SIGINT);
  REQUIRE(direct_int.exit_code.has_value());
  CHECK(*direct_int.exit_code == 130);
  CHECK(direct_int.exit_code == shell_int.exit_code);
  CHECK(direct_int.stderr_inline == shell_int.stderr_inline);

  // A command the shim handed to the shell (a script without #!): the shell
  // itself killed is reported as a signal, as it always was, not as the
  // shell's report of a program's end.
  const std::string script = dir.path() + "/shared/sleeps";
  std::ofstream(script) << "sleep 4711.5\n";
  ::chmod(script.c_str(), 0755);
  job_result handed = run_and_signal(*b, dir, script, {"/bin/sh", "-c", script}, SIGTERM);
  CHECK_FALSE(handed.exit_code.has_value());
  CHECK(handed.error == "killed by signal 15");
  CHECK(handed.stderr_inline.empty());
}

TEST_CASE_FIXTURE(backend_fixture, "process: a program without its shell times out and is cancelled like any job") {
  job_result timed = b->run(make_spec(dir, "p-direct-timeout", "sleep 4712.1", 1s), cancel);
  CHECK(timed.timed_out);
  CHECK(timed.error == "timed out after 1 s");
  CHECK_FALSE(timed.exit_code.has_value());
  CHECK(timed.stderr_inline.empty());  // the shim's own kill: no shell line
  CHECK(processes_running({"sleep", "4712.1"}).empty());

  job_result r;
  std::thread runner([&] { r = b->run(make_spec(dir, "p-direct-cancel", "sleep 4712.2", 60s), cancel); });
  CHECK(eventually([] { return processes_running({"sleep", "4712.2"}).size() == 1; }));
  cancel.cancel();
  runner.join();
  CHECK(r.result == outcome::cancelled);
  CHECK(eventually([] { return processes_running({"sleep", "4712.2"}).empty(); }));
}

TEST_CASE("direct_command: the shell splits every command it accepts into the same words") {
  // Random commands from literal characters, spaces, quotes and some the
  // shell interprets (a fifth of those accepted hold each kind of quote);
  // for each one direct_words accepts, /bin/sh itself prints the arguments
  // it would pass (printf '[%s]' gets them as argv).
  std::mt19937 rng(4711);
  const std::string alphabet = "ab09_./-+,:@%=   ''''\"\"\"\"\n$;*\\&|<>(){}~#?[]!^`";
  int compared = 0;
  for (int round = 0; round < 4000 && compared < 200; ++round) {
    std::string args;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) args += alphabet[rng() % alphabet.size()];
    auto words = troupe::exec::direct_words("x " + args);
    if (!words || words->size() < 2) continue;
    std::string want;
    for (std::size_t i = 1; i < words->size(); ++i) want += "[" + (*words)[i] + "]";
    FILE* sh = ::popen(("exec /usr/bin/printf '[%s]' " + args).c_str(), "r");
    REQUIRE(sh != nullptr);
    std::string got;
    char buf[256];
    for (std::size_t k; (k = std::fread(buf, 1, sizeof buf, sh)) > 0;) got.append(buf, k);
    CHECK(::pclose(sh) == 0);
    CHECK_MESSAGE(got == want, "args: " << args);
    ++compared;
  }
  CHECK(compared >= 150);
}
