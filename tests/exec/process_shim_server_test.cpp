// The job shim's fork server (fork_server.hpp, shim_main.cpp): one per
// backend, replaced when it dies without disturbing the jobs it started,
// checked again before each start like at startup.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "runtime/exec/process_backend.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::count_processes;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::seconds_since;
using troupe::exec::test::slurp;
using troupe::exec::test::eventually;
using troupe::exec::test::exists;
using troupe::exec::test::options_in;
using troupe::exec::test::results;

namespace {

// Gone or a zombie: its descriptors (the server's socket) are closed.
bool dead(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

// A job that runs until <shared>/go exists, saying so in <shared>/ready-<id> first.
std::string waiting_job(const scratch_dir& dir, const std::string& id) {
  const std::string shared = dir.path() + "/shared";
  return "touch " + shared + "/ready-" + id + "; while [ ! -e " + shared + "/go ]; do sleep 0.01; done; echo survived";
}

}  // namespace

TEST_CASE("shim server: killed, it is replaced at the next job; the jobs it started run on") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  results got;
  b.start(make_spec(dir, "running", waiting_job(dir, "running"), 60s), std::make_shared<cancel_token>(),
          got.for_job("running"));
  REQUIRE(eventually([&] { return exists(dir.path() + "/shared/ready-running"); }, 20.0));
  const pid_t first = b.shim_server_pid();
  REQUIRE(first > 0);
  REQUIRE(::kill(first, SIGKILL) == 0);
  REQUIRE(eventually([&] { return dead(first); }));

  cancel_token cancel;
  job_result next = b.run(make_spec(dir, "next", "echo fresh"), cancel);
  CHECK(next.result == outcome::completed);
  CHECK(next.stdout_inline == "fresh\n");
  const pid_t second = b.shim_server_pid();
  CHECK(second > 0);
  CHECK(second != first);
  CHECK(!dead(second));

  std::ofstream(dir.path() + "/shared/go") << "go";
  REQUIRE(got.wait_for(1, 30s));
  job_result running = got.get("running");
  CHECK(running.result == outcome::completed);
  CHECK(running.stdout_inline == "survived\n");
}

TEST_CASE("shim server: a shim others can write is refused when the server is restarted, too") {
  scratch_dir dir;
  process_options o = options_in(dir);
  o.shim_path = dir.path() + "/troupe-job-shim";
  {
    std::ifstream in(locate_shim(""), std::ios::binary);
    std::ofstream out(o.shim_path, std::ios::binary);
    out << in.rdbuf();
  }
  ::chmod(o.shim_path.c_str(), 0755);
  process_backend b(o);
  cancel_token cancel;
  CHECK(b.run(make_spec(dir, "before", "true"), cancel).result == outcome::completed);
  ::chmod(o.shim_path.c_str(), 0777);
  const pid_t server = b.shim_server_pid();
  REQUIRE(::kill(server, SIGKILL) == 0);
  REQUIRE(eventually([&] { return dead(server); }));
  job_result r = b.run(make_spec(dir, "after", "echo never"), cancel);
  CHECK(r.result == outcome::failed);
  CHECK(r.error.find("writable by other users") != std::string::npos);
  CHECK(r.stdout_inline.empty());
}

TEST_CASE("shim server: jobs one after another share an idle shim, which keeps nothing of the earlier job") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  cancel_token cancel;
  // The first job leaves a process of a new session behind (reaped by
  // completion's kill rounds) and names its shim.
  job_result first = b.run(make_spec(dir, "first", "setsid sleep 30 & echo $PPID"), cancel);
  REQUIRE(first.result == outcome::completed);
  const std::string shim = first.stdout_inline;
  REQUIRE(!shim.empty());
  // The next job runs under the same shim, which has it as its only child,
  // and its shell holds only the descriptors a job gets (0-2), none of the
  // shim's (its report and control pipes, its channel to the server).
  job_result next = b.run(
      make_spec(dir, "next", "echo $PPID; cat /proc/$PPID/task/$PPID/children; echo; echo $$; ls /proc/$$/fd | tr '\\n' ' '"),
      cancel);
  REQUIRE(next.result == outcome::completed);
  std::istringstream out(next.stdout_inline);
  std::string parent, children, self, fds;
  std::getline(out, parent);
  std::getline(out, children);
  std::getline(out, self);
  std::getline(out, fds);
  CHECK(parent + "\n" == shim);
  CHECK(children == self + " ");
  CHECK(fds == "0 1 2 ");
  CHECK(count_processes({"sleep", "30"}) == 0);
}

TEST_CASE("shim server: idle shims exit with the server") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  cancel_token cancel;
  job_result r = b.run(make_spec(dir, "one", "echo $PPID"), cancel);
  REQUIRE(r.result == outcome::completed);
  const pid_t shim = static_cast<pid_t>(std::stol(r.stdout_inline));
  // Idle between jobs, not gone: the next job runs under it.
  REQUIRE(b.run(make_spec(dir, "two", "echo $PPID"), cancel).stdout_inline == r.stdout_inline);
  REQUIRE(!dead(shim));
  const pid_t server = b.shim_server_pid();
  REQUIRE(shim != server);
  REQUIRE(::kill(server, SIGKILL) == 0);
  CHECK(eventually([&] { return dead(shim); }));
}

TEST_CASE("shim server: as many shims as jobs ran at once, of which at most 32 stay idle") {
  scratch_dir dir;
  process_backend b(options_in(dir));
  results got;
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    const std::string id = "j" + std::to_string(i);
    b.start(make_spec(dir, id, waiting_job(dir, id), 60s), std::make_shared<cancel_token>(), got.for_job(id));
  }
  REQUIRE(eventually(
      [&] {
        for (int i = 0; i < n; ++i)
          if (!exists(dir.path() + "/shared/ready-j" + std::to_string(i))) return false;
        return true;
      },
      60.0));
  const pid_t server = b.shim_server_pid();
  auto shims = [&] {
    std::istringstream in(slurp("/proc/" + std::to_string(server) + "/task/" + std::to_string(server) + "/children"));
    std::size_t count = 0;
    for (std::string pid; in >> pid;)
      if (!dead(static_cast<pid_t>(std::stol(pid)))) ++count;
    return count;
  };
  CHECK(shims() == static_cast<std::size_t>(n));
  std::ofstream(dir.path() + "/shared/go") << "go";
  REQUIRE(got.wait_for(n, 60s));
  for (int i = 0; i < n; ++i) CHECK(got.get("j" + std::to_string(i)).result == outcome::completed);
  CHECK(eventually([&] { return shims() == 32; }));
  // The next job runs in one of the idle ones: no new shim.
  cancel_token cancel;
  CHECK(b.run(make_spec(dir, "after", "true"), cancel).result == outcome::completed);
  CHECK(shims() == 32);
}
