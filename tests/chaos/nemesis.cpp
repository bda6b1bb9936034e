#include "tests/chaos/nemesis.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include <grpcpp/grpcpp.h>

namespace troupe::chaos {
namespace fs = std::filesystem;
using std::chrono::milliseconds;

data_disks::data_disks(integration::cluster& c, std::size_t size_mib) : c_(c) {
  for (auto id : c.ids()) {
    auto dir = c.data_dir(id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    auto opts = "size=" + std::to_string(size_mib) + "m,mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      why_not_ = "mount -t tmpfs -o " + opts + " on " + dir + " failed: " + std::strerror(errno) +
                 " (needs root); the disk-full fault is skipped";
      break;
    }
    mounted_.push_back(dir);
  }
  if (!why_not_.empty()) {
    for (const auto& d : mounted_) ::umount2(d.c_str(), MNT_DETACH);
    mounted_.clear();
  }
}

data_disks::~data_disks() {
  // Lazy: the nodes may still hold files open; the cluster kills them next.
  for (const auto& d : mounted_) ::umount2(d.c_str(), MNT_DETACH);
}

std::uint64_t data_disks::fill(std::uint64_t node) {
  auto path = c_.data_dir(node) + "/chaos-filler";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  std::vector<char> block(1 << 20, 0);
  std::uint64_t written = 0;
  // Bounded by the tmpfs size: it ends with ENOSPC well before 64 GiB.
  for (int i = 0; i < 65536; ++i) {
    auto w = ::write(fd, block.data(), block.size());
    if (w <= 0) break;
    written += static_cast<std::uint64_t>(w);
  }
  ::close(fd);
  return written;
}

void data_disks::free(std::uint64_t node) {
  std::error_code ec;
  fs::remove(c_.data_dir(node) + "/chaos-filler", ec);
}

nemesis::nemesis(std::uint64_t seed, integration::cluster& c, std::vector<fault_proxy*> proxies, data_disks& d,
                 steady::time_point t0)
    : rng_(seed), c_(c), proxies_(std::move(proxies)), disks_(d), t0_(t0), paused_(c.size() + 1), killed_(c.size() + 1),
      filled_(c.size() + 1), joining_(c.size() + 1), drained_(c.size() + 1), filled_since_start_(c.size() + 1) {
  for (auto id : c.ids()) {
    stubs_.push_back(integration::make_stub(c.grpc_address(id), c.client()));
    member_stubs_.push_back(
        membership::MembershipService::NewStub(integration::make_channel(c.grpc_address(id), c.client())));
  }
}

void nemesis::log(const std::string& what) const {
  auto s = std::chrono::duration<double>(steady::now() - t0_).count();
  std::printf("[chaos %7.2fs] %s\n", s, what.c_str());
  std::fflush(stdout);
}

void nemesis::sleep_until(steady::time_point t) const {
  for (int i = 0; i < 100000 && steady::now() < t; ++i) std::this_thread::sleep_for(milliseconds(20));
}

std::uint64_t nemesis::pick(const std::vector<std::uint64_t>& from) {
  auto r = rng_();  // always drawn, so the schedule does not depend on who is up
  return from.empty() ? 0 : from[r % from.size()];
}

std::uint64_t nemesis::leader() {
  for (auto id : c_.ids()) {
    if (paused_[id] || !c_.running(id)) continue;
    grpc::ClientContext ctx;
    integration::set_deadline(ctx, milliseconds(500));
    scheduler::GetClusterStatusRequest req;
    scheduler::GetClusterStatusResponse resp;
    if (stubs_[id - 1]->GetClusterStatus(&ctx, req, &resp).ok() && resp.role() == "leader" && resp.node_id() != 0)
      return resp.node_id();
  }
  return 0;
}

std::string nemesis::impairment(std::uint64_t leader) {
  for (auto id : c_.ids()) {
    if (id == leader) continue;
    const std::string node = "node " + std::to_string(id);
    if (!c_.running(id) || killed_[id]) return node + " was down";
    if (paused_[id]) return node + " was paused";
    if (filled_since_start_[id]) return node + "'s disk had been full since its start (it may be failing-stop)";
    if (joining_[id]) {
      membership::ListMembersResponse conf;
      if (!integration::list_members(c_, leader, true, conf, c_.client(), milliseconds(300)) || !integration::is_voter(conf, id))
        return node + " was not a voter (yet) after it was added back";
    }
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-troupe-forwarded", "1");  // answer from its own state, do not ask the leader
    integration::set_deadline(ctx, milliseconds(300));
    scheduler::GetClusterStatusRequest req;
    scheduler::GetClusterStatusResponse resp;
    auto st = stubs_[id - 1]->GetClusterStatus(&ctx, req, &resp);
    if (!st.ok()) return node + " did not answer (" + st.error_message() + ")";
    if (resp.leader_id() != leader)
      return node + " followed " + (resp.leader_id() ? "node " + std::to_string(resp.leader_id()) : "no leader");
  }
  return "";
}

std::vector<std::uint64_t> nemesis::followers(std::uint64_t leader) const {
  std::vector<std::uint64_t> out;
  for (auto id : c_.ids())
    if (id != leader) out.push_back(id);
  return out;
}

void nemesis::start(std::uint64_t id) {
  c_.start(id, joining_[id] ? std::vector<std::string>{"--join"} : std::vector<std::string>{});
  filled_since_start_[id] = false;
}

grpc::Status nemesis::change_member(bool add, std::uint64_t id, steady::time_point until) {
  grpc::Status st(grpc::StatusCode::UNAVAILABLE, "no leader answered");
  for (int i = 0; i < 200 && steady::now() < until; ++i) {
    auto l = leader();
    if (l == 0) {
      std::this_thread::sleep_for(milliseconds(100));
      continue;
    }
    grpc::ClientContext ctx;
    integration::set_deadline(ctx, milliseconds(7000));  // the leader answers DEADLINE_EXCEEDED after 5 s
    if (add) {
      membership::AddMemberRequest req;
      req.set_id(id);
      req.set_address(c_.grpc_address(id));
      req.set_http_address(c_.http_address(id));
      membership::AddMemberResponse resp;
      st = member_stubs_[l - 1]->AddMember(&ctx, req, &resp);
      if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
          st.error_message().find("already a member") != std::string::npos)
        return grpc::Status::OK;
    } else {
      membership::RemoveMemberRequest req;
      req.set_id(id);
      membership::RemoveMemberResponse resp;
      st = member_stubs_[l - 1]->RemoveMember(&ctx, req, &resp);
      if (st.error_code() == grpc::StatusCode::NOT_FOUND) return grpc::Status::OK;
    }
    if (st.ok()) return st;
    auto code = st.error_code();
    if (code != grpc::StatusCode::FAILED_PRECONDITION && code != grpc::StatusCode::DEADLINE_EXCEEDED &&
        code != grpc::StatusCode::UNAVAILABLE)
      return st;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return st;
}

void nemesis::undrain_drained() {
  for (auto id : c_.ids()) {
    if (!drained_[id]) continue;
    const auto until = steady::now() + std::chrono::seconds(15);
    grpc::Status st(grpc::StatusCode::UNAVAILABLE, "not running");
    for (int i = 0; i < 100 && steady::now() < until && c_.running(id); ++i) {
      grpc::ClientContext ctx;
      integration::set_deadline(ctx, milliseconds(7000));
      scheduler::UndrainNodeRequest req;
      scheduler::UndrainNodeResponse resp;
      st = stubs_[id - 1]->UndrainNode(&ctx, req, &resp);
      if (st.ok()) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
    if (st.ok()) {
      drained_[id] = false;
      log("node " + std::to_string(id) + " undrained");
    } else {
      log("node " + std::to_string(id) + " not undrained yet (" + std::to_string(st.error_code()) + " " +
          st.error_message() + "); the next heal tries again");
    }
  }
}

void nemesis::add_back_removed() {
  if (!membership_changed_) return;
  const auto until = steady::now() + std::chrono::seconds(30);
  for (int i = 0; i < 300 && steady::now() < until; ++i) {
    auto l = leader();
    membership::ListMembersResponse conf;
    if (l == 0 || !integration::list_members(c_, l, true, conf, c_.client(), milliseconds(1000)) || !conf.committed()) {
      std::this_thread::sleep_for(milliseconds(100));
      continue;
    }
    std::uint64_t id = 0;  // the first node missing from it
    for (auto n : c_.ids())
      if (id == 0 && !integration::is_member(conf, n)) id = n;
    if (id == 0) {
      membership_changed_ = false;
      return;
    }
    const std::string node = "node " + std::to_string(id);
    if (c_.running(id)) c_.kill9(id);  // its removal committed after a late answer: it is told to stop
    if (!joining_[id]) {
      auto n = c_.wipe_data_dir(id);
      joining_[id] = true;
      log(node + " is not in the configuration: stopped, data dir wiped (" + std::to_string(n) + " entries)");
    }
    auto st = change_member(true, id, until);
    if (!st.ok()) {
      log("member add " + std::to_string(id) + ": " + std::to_string(st.error_code()) + " " + st.error_message());
      continue;
    }
    start(id);
    log(node + " added back as a learner and started with --join");
  }
  log("the configuration still lacks a node 30 s into the heal; the checker will tell");
}

void nemesis::restart_exited() {
  for (auto id : c_.ids()) {
    int status = 0;
    if (killed_[id] || !c_.exited(id, &status)) continue;
    std::string how = WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status));
    bool expected = filled_since_start_[id];
    if (!expected) ++crashes_;
    log("node " + std::to_string(id) + " had exited by itself (" + how + ")" +
        (expected ? ", its disk had been full" : ": UNEXPECTED, see " + c_.log_path(id)) + "; starting it again");
    start(id);
  }
}

void nemesis::heal_all() {
  for (auto* p : proxies_) p->heal();
  for (auto id : c_.ids()) {
    if (paused_[id] && c_.running(id)) ::kill(c_.pid(id), SIGCONT);
    paused_[id] = false;
    if (filled_[id]) disks_.free(id);
  }
  // A node whose disk filled may have stopped itself (fail-stop); that is expected.
  restart_exited();
  for (auto id : c_.ids()) {
    filled_[id] = false;
    if (killed_[id]) start(id);
    killed_[id] = false;
  }
  add_back_removed();
  undrain_drained();
}

void nemesis::run(steady::time_point until) {
  enum kind { kill_leader, kill_follower, kill_majority, kill_all, pause_node, isolate_node, blackhole_node,
              split_cluster, slow_node, fill_disk, replace_node, drain_node, kinds };
  static const char* names[] = {"kill -9 leader", "kill -9 follower", "kill -9 majority", "kill -9 all",
                                "SIGSTOP", "isolate", "blackhole", "split", "slow links", "disk full",
                                "replace", "drain"};
  const std::size_t n = c_.size();
  for (int step = 0; step < 100000 && steady::now() < until; ++step) {
    auto k = static_cast<kind>(rng_() % kinds);
    auto hold = milliseconds(1000 + rng_() % 4000);
    auto gap = milliseconds(500 + rng_() % 2000);
    bool target_leader = rng_() % 2 == 0;
    restart_exited();
    std::uint64_t l = leader();
    auto others = followers(l);
    std::uint64_t other = pick(others);
    std::uint64_t target = target_leader && l != 0 ? l : other;
    std::string what = std::string(names[k]);
    switch (k) {
      case kill_leader:
      case kill_follower: {
        auto victim = k == kill_leader && l != 0 ? l : other;
        if (victim == l && l != 0) {
          auto why = impairment(l);  // asked before the kill: it takes a few ms
          leader_kills_.push_back({steady::now(), l, why, fault_starts_.size()});
        }
        c_.kill9(victim);
        killed_[victim] = true;
        what += " node " + std::to_string(victim) + (l ? "" : " (no leader known)");
        break;
      }
      case kill_majority: {
        std::vector<std::uint64_t> victims;
        if (l != 0) victims.push_back(l);
        for (auto id : others)
          if (victims.size() < n / 2 + 1 && rng_() % 4 != 0) victims.push_back(id);
        for (auto id : others)
          if (victims.size() < n / 2 + 1 && std::find(victims.begin(), victims.end(), id) == victims.end())
            victims.push_back(id);
        for (auto id : victims) {
          c_.kill9(id);
          killed_[id] = true;
          what += " " + std::to_string(id);
        }
        break;
      }
      case kill_all:
        for (auto id : c_.ids()) {
          c_.kill9(id);
          killed_[id] = true;
        }
        break;
      case pause_node:
        ::kill(c_.pid(target), SIGSTOP);
        paused_[target] = true;
        what += " node " + std::to_string(target) + (target == l ? " (leader)" : "");
        break;
      case isolate_node:
      case blackhole_node:
        for (auto* p : proxies_) p->set_node_mode(target, k == isolate_node ? link_mode::cut : link_mode::stall);
        what += " node " + std::to_string(target) + (target == l ? " (leader)" : "");
        break;
      case split_cluster: {
        // A minority side with `target` in it (so the leader sometimes is).
        std::vector<std::uint64_t> side{target};
        for (auto id : c_.ids())
          if (side.size() < (n - 1) / 2 && id != target && rng_() % 2 == 0) side.push_back(id);
        for (auto* p : proxies_) p->split(side);
        what += " {";
        for (auto id : side) what += " " + std::to_string(id);
        what += " } | rest";
        break;
      }
      case slow_node: {
        int ms = 50 + static_cast<int>(rng_() % 250);
        for (auto* p : proxies_) p->set_node_delay(target, ms);
        what += " node " + std::to_string(target) + " +" + std::to_string(ms) + " ms per chunk";
        break;
      }
      case fill_disk:
        if (!disks_.available()) {
          what += " skipped: " + disks_.why_not();
          break;
        }
        filled_[target] = filled_since_start_[target] = true;
        what += " node " + std::to_string(target) + " (" + std::to_string(disks_.fill(target) >> 20) + " MiB filler)";
        break;
      case replace_node: {
        // Membership under load: remove a member (a leader hands over
        // first), stop it and wipe its data dir; the heal adds it back under
        // its id, a fresh learner that catches up (by snapshot) and is
        // promoted. Its jobs are re-queued on the others meanwhile.
        what += " node " + std::to_string(target) + (target == l ? " (leader)" : "");
        if (l == 0 || !c_.running(target)) {
          what += ": skipped, " + std::string(l == 0 ? "no leader known" : "not running");
          break;
        }
        membership_changed_ = true;  // even a failed answer may commit later: the heal checks
        auto st = change_member(false, target, steady::now() + hold);
        if (!st.ok()) {
          what += ": member remove answered " + std::to_string(st.error_code()) + " " + st.error_message();
          break;
        }
        if (c_.running(target)) c_.kill9(target);
        auto n = c_.wipe_data_dir(target);
        joining_[target] = true;
        what += ": removed, stopped, data dir wiped (" + std::to_string(n) + " entries)";
        break;
      }
      case drain_node: {
        // DrainNode at the node (a leader hands over once its jobs moved):
        // its running jobs finish or move, no new one is placed there. The
        // call is bounded by the hold; the drain may complete after it, and
        // the heal undrains the node either way.
        what += " node " + std::to_string(target) + (target == l ? " (leader)" : "");
        drained_[target] = true;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + hold);
        scheduler::DrainNodeRequest req;
        scheduler::DrainNodeResponse resp;
        auto st = stubs_[target - 1]->DrainNode(&ctx, req, &resp);
        what += st.ok() ? ": " + resp.message()
                        : ": answered " + std::to_string(st.error_code()) + " " + st.error_message();
        break;
      }
      case kinds:
        break;
    }
    ++faults_;
    fault_starts_.push_back(steady::now());
    log("fault " + std::to_string(faults_) + ": " + what + ", for " + std::to_string(hold.count()) + " ms");
    sleep_until(std::min(until, steady::now() + hold));
    heal_all();
    log("healed");
    sleep_until(std::min(until, steady::now() + gap));
  }
}

}  // namespace troupe::chaos
