// Snapshots: a follower that missed more than the leader keeps in its log
// catches up through InstallSnapshot; a node's start from its own (its table
// built on huge pages; a table it cannot decode refused).
#include <doctest/doctest.h>

#include <map>

#include <sys/wait.h>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "node/huge_pages.hpp"
#include "runtime/storage/state_files.hpp"
#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;

namespace {

// Whether the process maps `path` (its /proc/<pid>/maps names the file).
bool maps_file(pid_t pid, const std::string& path) {
  return read_text_file("/proc/" + std::to_string(pid) + "/maps").find(" " + path + "\n") != std::string::npos;
}

// Whether any of the process's mappings carries MADV_HUGEPAGE ("hg" among
// the VmFlags of /proc/<pid>/smaps).
bool advises_huge_pages(pid_t pid) {
  const std::string smaps = read_text_file("/proc/" + std::to_string(pid) + "/smaps");
  std::size_t at = 0;
  while ((at = smaps.find("\nVmFlags:", at)) != std::string::npos) {
    const auto end = smaps.find('\n', at + 1);
    if ((smaps.substr(at, end - at) + " ").find(" hg ") != std::string::npos) return true;
    at = end;
  }
  return false;
}

}  // namespace

TEST_SUITE("snapshot") {

// A restart rebuilds the whole job table on the heap: on huge pages
// (node/huge_pages.hpp), unless the environment says otherwise. The pid
// is the one the test started: the node re-execs itself, it does not fork.
// Only the THP mode "madvise" needs the advice (and only there does glibc
// give it): in another the node starts as it is.
TEST_CASE("a node's heap is on transparent huge pages unless GLIBC_TUNABLES chose otherwise") {
  const std::string mode = troupe::node::thp_mode();
  cluster_options o;
  o.nodes = 2;
  o.node_env = [](std::uint64_t id) {
    return id == 2 ? std::vector<std::string>{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"} : std::vector<std::string>{};
  };
  cluster c(o);
  c.start_all();
  REQUIRE(c.wait_for_leader() != 0);
  CHECK_MESSAGE(c.log_text(2).find("malloc: glibc.malloc.hugetlb=0") != std::string::npos,
                c.log_path(2));
  CHECK_FALSE(advises_huge_pages(c.pid(2)));
  CHECK(read_text_file("/proc/" + std::to_string(c.pid(1)) + "/comm") == "troupe-node\n");
  // The environment as of the process's last exec.
  const std::string env = read_text_file("/proc/" + std::to_string(c.pid(1)) + "/environ");
  if (mode != "madvise") {
    MESSAGE("THP mode \"" << mode << "\": the node does not exec");
    CHECK_MESSAGE(c.log_text(1).find("malloc: glibc.malloc.hugetlb=(unset)") != std::string::npos,
                  c.log_path(1));
    CHECK(env.find("GLIBC_TUNABLES=") == std::string::npos);
    return;
  }
  CHECK_MESSAGE(c.log_text(1).find("malloc: glibc.malloc.hugetlb=1") != std::string::npos,
                c.log_path(1));
  CHECK(advises_huge_pages(c.pid(1)));
  // The started process itself was exec'd again with the tunable, and kept
  // its name (above).
  CHECK(env.find("GLIBC_TUNABLES=glibc.malloc.hugetlb=1") != std::string::npos);
}

TEST_CASE("a restarted follower catches up from the leader's snapshot") {
  cluster_options o;
  o.snapshot_every = 50;
  cluster c(o);
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto lagging = c.some_follower(leader);
  auto& ls = c.stub(leader);
  c.kill9(lagging);
  // Wait until the leader presumes its worker dead, so no job waits on it.
  REQUIRE(wait_until(milliseconds(10000), [&] {
    scheduler::GetClusterStatusResponse s;
    if (!c.status(leader, s)) return false;
    for (const auto& n : s.nodes())
      if (n.node_id() == lagging) return !n.is_alive();
    return false;
  }));

  // Each job is at least 2 entries (its submit, which may place it, and its
  // final status): 100 jobs are > 3 x snapshot_every entries.
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    scheduler::SubmitJobResponse r;
    REQUIRE(submit(ls, "echo snap-" + std::to_string(i), &r).ok());
    ids.push_back(r.job_id());
  }
  for (const auto& id : ids) REQUIRE(is_terminal(wait_for_job(ls, id, milliseconds(30000)).status()));

  // The leader compacted: its first available log index moved past 1.
  grpc::ClientContext ctx;
  set_deadline(ctx, milliseconds(5000));
  scheduler::GetRaftLogEntriesRequest req;
  req.set_limit(1);
  scheduler::GetRaftLogEntriesResponse log;
  REQUIRE(ls.GetRaftLogEntries(&ctx, req, &log).ok());
  CHECK(log.commit_index() > 3 * 50);
  CHECK(log.first_available_index() > 50);

  c.start(lagging);
  auto leader_commit = log.commit_index();
  nlohmann::json view;
  bool caught_up = wait_until(milliseconds(20000), [&] {
    auto r = http("GET", "http://" + c.http_address(lagging) + "/api/cluster", "", milliseconds(2000));
    if (r.code != 200) return false;
    view = nlohmann::json::parse(r.body, nullptr, false);
    return view.is_object() && view["commit_index"].is_number() &&
           view["commit_index"].get<std::uint64_t>() >= leader_commit &&
           view["last_applied"].get<std::uint64_t>() >= leader_commit;
  }, milliseconds(100));
  CHECK_MESSAGE(caught_up, view.dump());

  std::map<std::string, int> on_leader, on_follower;
  for (const auto& j : list_all(ls, {})) on_leader[j.job_id()] = j.status();
  bool same = wait_until(milliseconds(10000), [&] {
    on_follower.clear();
    try {
      for (const auto& j : list_all(c.stub(lagging), {})) on_follower[j.job_id()] = j.status();
    } catch (const std::exception&) {
      return false;
    }
    return on_follower == on_leader;
  }, milliseconds(200));
  CHECK(on_leader.size() == ids.size());
  CHECK(same);
  CHECK_MESSAGE(c.log_text(lagging).find("restored snapshot") != std::string::npos,
                "no \"restored snapshot\" in " << c.log_path(lagging));
  // Both keep the snapshot for lagging followers as a mapping of the
  // installed file, not on the heap: the leader the one it took, the
  // follower the one it received.
  for (auto id : {leader, lagging}) {
    const std::string file = c.data_dir(id) + "/raft/snapshot";
    CHECK_MESSAGE(wait_until(milliseconds(5000), [&] { return maps_file(c.pid(id), file); }, milliseconds(50)),
                  "node " << id << " does not map " << file);
  }
}

// The snapshot file's CRC protects its bytes; a table this version cannot
// decode from them (written by a newer one, or a bug) stops the start with
// what and where (before the table was built on the main thread, its actor
// died of it: "restoring the job table: system_error(runtime_error)").
TEST_CASE("a snapshot whose table cannot be decoded stops the start with a message naming the file") {
  cluster_options o;
  o.nodes = 1;
  cluster c(o);
  const std::string raft_dir = c.data_dir(1) + "/raft";
  troupe::storage::save_snapshot(
      raft_dir, troupe::raft::snapshot{{7, 1, troupe::raft::membership::of_voters({1})}, "not a job table"});
  troupe::storage::save_hard_state(raft_dir, troupe::raft::hard_state{1, 1, 7});
  c.start(1);
  int status = 0;
  REQUIRE(wait_until(milliseconds(30000), [&] { return c.exited(1, &status); }, milliseconds(100)));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_MESSAGE(c.log_text(1).find("cannot restore the job table from " + raft_dir + "/snapshot: ") !=
                    std::string::npos,
                c.log_path(1));
}

}  // TEST_SUITE
