// Backup and restore (issue 13): `troupe snapshot save` from a 3-node cluster
// under submit load, `troupe-node --restore` into a fresh single-node
// cluster, and every job compared; the refusals (corrupt, truncated, a
// non-empty data dir, a token below admin).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <google/protobuf/util/message_differencer.h>

#include "runtime/backup/backup_file.hpp"
#include "runtime/jobs/snapshot_codec.hpp"
#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;
namespace fs = std::filesystem;

namespace {

// Jobs the test submits while the save runs, counted as acknowledged the
// moment SubmitJob answered OK.
class submit_load {
 public:
  explicit submit_load(scheduler::SchedulerService::Stub& s) : stub_(s) {
    worker_ = std::thread([this] {
      for (int i = 0; i < 5000 && !stop_; ++i) {  // bounded: a few hundred in practice
        scheduler::SubmitJobResponse r;
        if (submit(stub_, "echo load-" + std::to_string(i), &r, milliseconds(5000)).ok()) {
          std::lock_guard<std::mutex> g(mu_);
          acked_.push_back(r.job_id());
        }
      }
    });
  }
  ~submit_load() { stop(); }
  std::vector<std::string> acked() {
    std::lock_guard<std::mutex> g(mu_);
    return acked_;
  }
  void stop() {
    stop_ = true;
    if (worker_.joinable()) worker_.join();
  }

 private:
  scheduler::SchedulerService::Stub& stub_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> acked_;
  std::thread worker_;
};

std::map<std::string, scheduler::JobInfo> by_id(const std::vector<scheduler::JobInfo>& jobs) {
  std::map<std::string, scheduler::JobInfo> m;
  for (const auto& j : jobs) m[j.job_id()] = j;
  return m;
}

bool same(const scheduler::JobInfo& a, const scheduler::JobInfo& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

std::string read_bytes(const std::string& path) { return read_text_file(path); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

bool empty_or_missing(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename() != "LOCK") return false;
  return true;
}

}  // namespace

TEST_SUITE("backup") {

TEST_CASE("save under load from a 3-node cluster, restore into a new single-node cluster: the same jobs") {
  cluster_options o;
  o.snapshot_every = 60;  // the leader compacts during the run: the image is not just the log
  cluster c(o);
  c.start_all();
  auto leader = c.wait_for_leader();
  REQUIRE(leader != 0);
  auto follower = c.some_follower(leader);
  auto& ls = c.stub(leader);

  // A job that stays RUNNING until the test creates `release` (readable by
  // the job's user: the process executor runs jobs as nobody under root).
  const std::string gate_dir = c.dir() + "/gate";
  fs::create_directories(gate_dir);
  ::chmod(c.dir().c_str(), 0755);
  ::chmod(gate_dir.c_str(), 0755);
  const std::string release = gate_dir + "/release";
  scheduler::SubmitJobResponse held;
  REQUIRE(submit(ls, "while [ ! -f " + release + " ]; do sleep 0.1; done; echo released", &held).ok());
  // And finished ones, before any load.
  std::vector<std::string> early;
  for (int i = 0; i < 20; ++i) {
    scheduler::SubmitJobResponse r;
    REQUIRE(submit(ls, "echo early-" + std::to_string(i), &r).ok());
    early.push_back(r.job_id());
  }
  for (const auto& id : early) REQUIRE(is_terminal(wait_for_job(ls, id, milliseconds(30000)).status()));
  REQUIRE(wait_for_job(ls, held.job_id(), milliseconds(30000), scheduler::JOB_STATUS_RUNNING).status() ==
          scheduler::JOB_STATUS_RUNNING);

  const std::string file = c.dir() + "/backup.db";
  std::vector<std::string> acked_before;
  {
    submit_load load(ls);
    REQUIRE(wait_until(milliseconds(20000), [&] { return load.acked().size() >= 30; }));
    acked_before = load.acked();
    // Asked of a follower: the CLI follows its "Not the leader" to the leader.
    auto r = run_process({cli_binary(), "-a", c.grpc_address(follower), "snapshot", "save", file}, milliseconds(60000));
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    CHECK_MESSAGE(r.output.find("saved " + file + ": index ") != std::string::npos, r.output);
    // The leader it names: normally the first one; under this load on two
    // cores a leader can step down and another be elected meanwhile, and
    // the CLI then follows the redirect to it.
    const auto now_leads = c.wait_for_leader();
    auto named = [&](std::uint64_t id) {
      return r.output.find("(from leader node " + std::to_string(id) + ")") != std::string::npos;
    };
    CHECK_MESSAGE((named(leader) || named(now_leads)), r.output);
    load.stop();
  }
  CHECK_FALSE(fs::exists(file + ".tmp"));

  // What the file holds, decoded independently of the node.
  auto saved = troupe::backup::read_backup_file(file);
  std::map<std::string, troupe::jobs::job> in_backup;
  for (auto& j : troupe::jobs::decode_snapshot(saved.data).jobs) in_backup[j.id] = j;
  CHECK(in_backup.size() == saved.meta.job_count);
  REQUIRE(in_backup.count(held.job_id()));
  CHECK(in_backup.at(held.job_id()).status == troupe::jobs::job_status::running);
  // Linearizable: every job acknowledged before the save began is in it.
  for (const auto& id : early) CHECK(in_backup.count(id) == 1);
  for (const auto& id : acked_before) CHECK_MESSAGE(in_backup.count(id) == 1, "acknowledged job " << id << " missing");

  // The status command agrees.
  auto st = run_process({cli_binary(), "snapshot", "status", file}, milliseconds(30000));
  CHECK_MESSAGE(st.exit_code == 0, st.output);
  CHECK_MESSAGE(st.output.find(std::to_string(saved.meta.job_count) + " jobs") != std::string::npos, st.output);
  CHECK_MESSAGE(st.output.find("checksum ok") != std::string::npos, st.output);

  // The original cluster's view now: every backed-up job exists there with
  // the same content; those terminal in the backup are identical.
  ::close(::open(release.c_str(), O_WRONLY | O_CREAT, 0644));
  auto original = by_id(list_all(ls, {}));
  for (const auto& [id, b] : in_backup) {
    REQUIRE_MESSAGE(original.count(id), "job " << id << " of the backup is not in the original cluster");
    const auto& o_job = original.at(id);
    CHECK(o_job.command() == b.command);
    CHECK(o_job.image() == b.image);
    CHECK(o_job.created_at_ns() == b.created_at_ns);
    if (troupe::jobs::is_terminal(b.status)) {
      CHECK(static_cast<int>(o_job.status()) == static_cast<int>(b.status));
      CHECK(o_job.attempts() == b.attempts);
    }
  }

  // Restore into a new single-node cluster and start it.
  cluster_options ro;
  ro.nodes = 1;
  cluster restored(ro);
  auto rr = run_process({node_binary(), "--config", restored.config_path(1), "--restore", file}, milliseconds(60000));
  REQUIRE_MESSAGE(rr.exit_code == 0, rr.output);
  CHECK_MESSAGE(rr.output.find("restored " + file) != std::string::npos, rr.output);
  CHECK_MESSAGE(rr.output.find("members 1") != std::string::npos, rr.output);

  // A second restore into the now seeded dir is refused, and changes nothing.
  const std::string snapshot_file = restored.data_dir(1) + "/raft/snapshot";
  const std::string seeded = read_bytes(snapshot_file);
  auto again = run_process({node_binary(), "--config", restored.config_path(1), "--restore", file}, milliseconds(60000));
  CHECK(again.exit_code == 1);
  CHECK_MESSAGE(again.output.find("is not empty") != std::string::npos, again.output);
  CHECK(read_bytes(snapshot_file) == seeded);

  restored.start(1);
  REQUIRE(restored.wait_for_leader() == 1);
  auto& rs = restored.stub(1);
  // The same set of jobs, no more, no fewer.
  auto first_view = by_id(list_all(rs, {}));
  CHECK(first_view.size() == in_backup.size());
  for (const auto& [id, j] : first_view) CHECK_MESSAGE(in_backup.count(id) == 1, "job " << id << " not in the backup");
  // Terminal jobs are identical to the original cluster's, output included.
  std::size_t terminal = 0;
  for (const auto& [id, b] : in_backup) {
    if (!troupe::jobs::is_terminal(b.status)) continue;
    ++terminal;
    REQUIRE(first_view.count(id));
    CHECK_MESSAGE(same(first_view.at(id), original.at(id)),
                  first_view.at(id).ShortDebugString() << " vs " << original.at(id).ShortDebugString());
    scheduler::GetJobStatusResponse a, b2;
    REQUIRE(job_status(rs, id, &a).ok());
    REQUIRE(job_status(ls, id, &b2).ok());
    CHECK(a.output() == b2.output());
    CHECK(a.exit_code() == b2.exit_code());
  }
  CHECK(terminal >= early.size());
  // Jobs that were not terminal in the backup (the held one at least) went
  // back to pending and now run on the new cluster's node: none is stuck.
  std::size_t rerun = 0;
  for (const auto& [id, b] : in_backup) {
    if (troupe::jobs::is_terminal(b.status)) continue;
    ++rerun;
    auto done = wait_for_job(rs, id, milliseconds(60000));
    CHECK_MESSAGE(done.status() == scheduler::JOB_STATUS_COMPLETED, id << " " << done.ShortDebugString());
    CHECK(done.command() == b.command);
    CHECK(done.attempts() == b.attempts + 1);  // one more assignment, on the new cluster
  }
  CHECK(rerun >= 1);
  MESSAGE("backup at index " << saved.meta.index << ": " << in_backup.size() << " jobs, " << acked_before.size()
                             << " acknowledged under load before the save, " << terminal << " terminal, " << rerun
                             << " re-run on the restored node");
  auto held_now = wait_for_job(rs, held.job_id(), milliseconds(1000));
  CHECK(held_now.output() == "released\n");
  CHECK(held_now.executed_by() == 1);

  // A new cluster keeps going: it takes new jobs.
  scheduler::SubmitJobResponse fresh;
  REQUIRE(submit(rs, "echo after-restore", &fresh).ok());
  CHECK(wait_for_job(rs, fresh.job_id(), milliseconds(30000)).status() == scheduler::JOB_STATUS_COMPLETED);

  // Damaged files: refused by `snapshot status` and by --restore, which then
  // leaves its data dir empty.
  const std::string whole = read_bytes(file);
  const std::string corrupt = c.dir() + "/corrupt.db", truncated = c.dir() + "/truncated.db";
  std::string flipped = whole;
  flipped[whole.size() / 2] = static_cast<char>(flipped[whole.size() / 2] ^ 0x01);
  write_bytes(corrupt, flipped);
  write_bytes(truncated, whole.substr(0, whole.size() / 2));
  cluster_options fo;
  fo.nodes = 1;
  cluster fresh_dir(fo);  // configs and an unused data dir; never started
  for (const auto& [bad, why] : {std::pair<std::string, std::string>{corrupt, "checksum mismatch"},
                                 std::pair<std::string, std::string>{truncated, "truncated"}}) {
    CAPTURE(bad);
    auto s = run_process({cli_binary(), "snapshot", "status", bad}, milliseconds(30000));
    CHECK(s.exit_code == 1);
    CHECK_MESSAGE(s.output.find(why) != std::string::npos, s.output);
    auto r = run_process({node_binary(), "--config", fresh_dir.config_path(1), "--restore", bad}, milliseconds(30000));
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.output.find(why) != std::string::npos, r.output);
    CHECK(empty_or_missing(fresh_dir.data_dir(1)));
  }
}

TEST_CASE("snapshot save needs the admin role when tokens are configured; a failed save writes nothing") {
  const std::string read_token = "backup-read-token-0123", admin_token = "backup-admin-token-0123";
  cluster_options o;
  o.nodes = 1;
  o.tokens = {{"reader", read_token, "read"}, {"ops", admin_token, "admin"}};
  cluster c(o);
  c.start_all();
  // Its stubs send no token on plaintext: the log says when it leads.
  REQUIRE(wait_until(milliseconds(20000), [&] { return c.log_text(1).find("role leader") != std::string::npos; }));
  const std::string file = c.dir() + "/backup.db";
  const std::string addr = c.grpc_address(1);

  auto none = run_process({cli_binary(), "-a", addr, "snapshot", "save", file}, milliseconds(30000));
  CHECK(none.exit_code == 1);
  CHECK_MESSAGE(none.output.find("(UNAUTHENTICATED)") != std::string::npos, none.output);
  auto reader = run_process({cli_binary(), "-a", addr, "--token", read_token, "snapshot", "save", file},
                            milliseconds(30000));
  CHECK(reader.exit_code == 1);
  CHECK_MESSAGE(reader.output.find("(PERMISSION_DENIED)") != std::string::npos, reader.output);
  CHECK_MESSAGE(reader.output.find("was not written") != std::string::npos, reader.output);
  CHECK_FALSE(fs::exists(file));
  CHECK_FALSE(fs::exists(file + ".tmp"));

  auto admin = run_process({cli_binary(), "-a", addr, "--token", admin_token, "snapshot", "save", file},
                           milliseconds(30000));
  CHECK_MESSAGE(admin.exit_code == 0, admin.output);
  CHECK(troupe::backup::read_backup_file(file).meta.index > 0);
}

}  // TEST_SUITE
