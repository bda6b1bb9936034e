// The process backend's working directories are reusable slots
// (<work_dir>/node-<id>/slot-<k>, process_backend.hpp): jobs running at once
// never share one, nothing a job leaves reaches the next job in its slot,
// whatever a crashed node left is gone before a slot is used, two nodes
// with the same id and work_dir take different slots, and a node's
// death still kills its jobs, empties their directories and ends its fork
// server.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "runtime/exec/process_backend.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using namespace std::chrono_literals;
using troupe::exec::test::count_processes;
using troupe::exec::test::entries_of;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::seconds_since;
using troupe::exec::test::slurp;
using troupe::exec::test::eventually;
using troupe::exec::test::exists;
using troupe::exec::test::options_in;
using troupe::exec::test::results;

namespace {

// The child of `parent` whose command line is exactly `argv` (the job
// shim's fork server; the shims it forks share its command line but are its
// children), or -1.
pid_t child_with_cmdline(pid_t parent, const std::vector<std::string>& argv) {
  std::string want;
  for (const auto& a : argv) want += a + '\0';
  pid_t found = -1;
  DIR* d = ::opendir("/proc");
  if (!d) return found;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    const std::string base = std::string("/proc/") + e->d_name;
    if (slurp(base + "/cmdline") != want) continue;
    const std::string line = slurp(base + "/stat");  // "<pid> (<comm>) <state> <ppid> ..."
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream stat(line.substr(paren + 1));
    char state;
    pid_t ppid = 0;
    if (stat >> state >> ppid && ppid == parent) found = static_cast<pid_t>(std::stol(e->d_name));
  }
  ::closedir(d);
  return found;
}

// Gone, or a zombie (its descriptors are closed).
bool gone(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

const std::string job_uid = std::to_string(::geteuid() == 0 ? 65534 : ::geteuid());

// Runs a job in `b` that prints its directory, that directory's mode and
// owner, and how many entries it holds: every job must find `slot`, empty
// and private to the job user, whatever ran or was left there before.
void check_finds_fresh_slot(process_backend& b, const scratch_dir& dir, const std::string& job_id,
                            const std::string& slot) {
  cancel_token cancel;
  job_result r = b.run(make_spec(dir, job_id, "pwd; stat -c '%a %u' .; ls -A | wc -l"), cancel);
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == slot + "\n700 " + job_uid + "\n0\n");
}

}  // namespace

TEST_CASE("process slots: jobs running at once never share a directory, and each sees only its own files") {
  scratch_dir dir;
  const auto o = options_in(dir);
  const std::string shared = dir.path() + "/shared";
  process_backend b(o);
  results got;
  constexpr int n = 6;
  for (int i = 0; i < n; ++i) {
    const std::string id = "share-" + std::to_string(i);
    // Each job waits until all of them run, so they hold their slots at once.
    b.start(make_spec(dir, id,
                      "touch mine-" + std::to_string(i) + "; touch " + shared + "/ready-" + std::to_string(i) +
                          "; while [ ! -e " + shared + "/go ]; do sleep 0.01; done; pwd; ls -A",
                      60s),
            std::make_shared<cancel_token>(), got.for_job(id));
  }
  REQUIRE(eventually([&] {
    for (int i = 0; i < n; ++i)
      if (!exists(shared + "/ready-" + std::to_string(i))) return false;
    return true;
  }, 20.0));
  std::ofstream(shared + "/go") << "go";
  REQUIRE(got.wait_for(n, 60s));
  std::set<std::string> dirs;
  for (int i = 0; i < n; ++i) {
    job_result r = got.get("share-" + std::to_string(i));
    CHECK(r.result == outcome::completed);
    std::istringstream out(r.stdout_inline);
    std::string pwd, files;
    std::getline(out, pwd);
    std::getline(out, files, '\0');
    CHECK(pwd.rfind(o.work_dir + "/node-7/slot-", 0) == 0);
    CHECK(files == "mine-" + std::to_string(i) + "\n");
    dirs.insert(pwd);
  }
  CHECK(dirs.size() == n);
}

TEST_CASE("process slots: two backends with the same node id and work_dir never share a slot") {
  // Two nodes with the same id on one machine (two clusters with the
  // defaults): the second must neither remove nor empty the first's slot.
  scratch_dir dir;
  const auto o = options_in(dir);
  const std::string shared = dir.path() + "/shared";
  process_backend first(o), second(o);
  results got;
  first.start(make_spec(dir, "first", "touch mine; touch " + shared +
                                          "/ready; while [ ! -e " + shared + "/go ]; do sleep 0.01; done; pwd; ls -A",
                        60s),
              std::make_shared<cancel_token>(), got.for_job("first"));
  REQUIRE(eventually([&] { return exists(shared + "/ready"); }, 20.0));
  cancel_token cancel;
  job_result other = second.run(make_spec(dir, "second", "pwd; ls -A | wc -l"), cancel);
  CHECK(other.result == outcome::completed);
  CHECK(other.stdout_inline == o.work_dir + "/node-7/slot-1\n0\n");
  std::ofstream(shared + "/go") << "go";
  REQUIRE(got.wait_for(1, 60s));
  job_result r = got.get("first");
  CHECK(r.result == outcome::completed);
  CHECK(r.stdout_inline == o.work_dir + "/node-7/slot-0\nmine\n");
  // The second keeps to its own slot afterwards too.
  other = second.run(make_spec(dir, "second-again", "pwd"), cancel);
  CHECK(other.stdout_inline == o.work_dir + "/node-7/slot-1\n");
}

TEST_CASE("process slots: nothing a job leaves in its directory reaches the next job there") {
  scratch_dir dir;
  const auto o = options_in(dir);
  process_backend b(o);
  cancel_token cancel;
  const std::string slot = o.work_dir + "/node-7/slot-0";
  job_result first = b.run(make_spec(dir, "left-1",
                                     "pwd; mkdir -p d/e; echo x > d/e/f; touch .hidden file; ln -s /etc/passwd link; "
                                     "mkfifo fifo; chmod 000 d; chmod 777 ."),
                           cancel);
  CHECK(first.result == outcome::completed);
  CHECK(first.stdout_inline == slot + "\n");
  // One job at a time: the next one gets the same slot, empty and private again.
  check_finds_fresh_slot(b, dir, "left-2", slot);
  CHECK(exists("/etc/passwd"));
}

TEST_CASE("process slots: an idle slot a cleaner removed is made again, private, for the next job") {
  scratch_dir dir;
  const auto o = options_in(dir);
  process_backend b(o);
  const std::string slot = o.work_dir + "/node-7/slot-0";
  check_finds_fresh_slot(b, dir, "before-clean", slot);
  // The slot alone, then everything below work_dir (a cleaner of /tmp).
  for (const std::string& removed : {slot, o.work_dir}) {
    std::filesystem::remove_all(removed);
    REQUIRE_FALSE(exists(slot));
    check_finds_fresh_slot(b, dir, "after-clean", slot);
  }
}

TEST_CASE("process slots: what a crashed node left in a slot is gone before the slot is used") {
  scratch_dir dir;
  const auto o = options_in(dir);
  const std::string node_dir = o.work_dir + "/node-7", slot = node_dir + "/slot-0";
  // As a node killed in the middle of a job leaves it: files, a nested
  // directory, a mode a job chose.
  for (const std::string& d : {o.work_dir, node_dir}) {
    REQUIRE(::mkdir(d.c_str(), 0711) == 0);
    ::chmod(d.c_str(), 0711);
  }
  REQUIRE(::mkdir(slot.c_str(), 0777) == 0);
  ::chmod(slot.c_str(), 0777);
  REQUIRE(::mkdir((slot + "/sub").c_str(), 0700) == 0);
  std::ofstream(slot + "/sub/stale") << "from the last node";
  std::ofstream(slot + "/.stale") << "from the last node";
  process_backend b(o);
  check_finds_fresh_slot(b, dir, "after-crash", slot);
}

TEST_CASE("process slots: when the node dies, its job is killed and its directory emptied") {
  scratch_dir dir;
  const auto o = options_in(dir);
  const std::string shared = dir.path() + "/shared", slot = o.work_dir + "/node-7/slot-0";
  // The node is a child process here, so it can be killed like a node.
  const pid_t node = ::fork();
  REQUIRE(node >= 0);
  if (node == 0) {
    try {
      process_backend b(o);
      b.start(make_spec(dir, "orphan", "echo x > left; mkdir sub; touch sub/f; touch " + shared + "/ready; exec sleep 3605",
                        60s),
              std::make_shared<cancel_token>(), [](job_result) {});
      for (;;) ::pause();
    } catch (...) {
      _exit(1);
    }
  }
  REQUIRE(eventually([&] { return exists(shared + "/ready") && count_processes({"sleep", "3605"}) == 1; }, 20.0));
  CHECK(entries_of(slot) == std::set<std::string>{"left", "sub"});
  const pid_t server = child_with_cmdline(node, {locate_shim(""), "troupe-job-shim-server-v1"});
  REQUIRE(server > 0);
  ::kill(node, SIGKILL);
  int status = 0;
  ::waitpid(node, &status, 0);
  CHECK(eventually([] { return count_processes({"sleep", "3605"}) == 0; }));
  // Its fork server saw its socket close and left.
  CHECK(eventually([&] { return gone(server); }));
  CHECK(eventually([&] { return entries_of(slot).empty(); }));
  CHECK(exists(slot));
}
