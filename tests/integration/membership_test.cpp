// Membership changes on real processes (issue 13): a live 3-node cluster
// grows to 5 and shrinks back to 3 under a steady submit load, through the
// `troupe member` CLI (which follows "Not the leader" redirects, so removing
// the leader works through the redirect); and MembershipService's errors and
// roles on a TLS cluster, with a node whose certificate was made after the
// cluster started.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "membership.grpc.pb.h"
#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

using namespace troupe::integration;
namespace pb = troupe::membership;

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

process_result cli(cluster& c, const std::vector<std::uint64_t>& via, const std::vector<std::string>& args,
                   const std::vector<std::string>& security = {}) {
  std::vector<std::string> addrs;
  for (auto id : via) addrs.push_back(c.grpc_address(id));
  std::vector<std::string> argv{cli_binary(), "-a", joined(addrs)};
  argv.insert(argv.end(), security.begin(), security.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, milliseconds(60000));
}

// The leader's configuration, asked of any of `nodes` (bounded).
bool leader_members(cluster& c, const std::set<std::uint64_t>& nodes, pb::ListMembersResponse& out) {
  for (auto id : nodes) {
    pb::ListMembersResponse r;
    if (!list_members(c, id, true, r) || r.leader_id() == 0 || !nodes.count(r.leader_id())) continue;
    if (list_members(c, r.leader_id(), false, out)) return true;
  }
  return false;
}

// A background loop over the cluster's current members (the test changes
// them as it grows and shrinks the cluster): step(members) runs again and
// again on its own thread until stop().
class member_loop {
 public:
  explicit member_loop(std::function<void(const std::set<std::uint64_t>&)> step) : step_(std::move(step)) {}
  ~member_loop() { stop(); }
  void set_members(std::set<std::uint64_t> m) {
    std::lock_guard<std::mutex> lock(mutex_);
    members_ = std::move(m);
  }
  void start() {
    thread_ = std::thread([this] {
      while (!done_) {
        std::set<std::uint64_t> members;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          members = members_;
        }
        step_(members);
      }
    });
  }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::function<void(const std::set<std::uint64_t>&)> step_;
  std::mutex mutex_;
  std::set<std::uint64_t> members_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Submits `echo` jobs one after the other to whichever of the current
// members leads, and records every acknowledged id.
class submit_load {
 public:
  explicit submit_load(cluster& c) : c_(c) {}
  void set_members(std::set<std::uint64_t> m) { loop_.set_members(std::move(m)); }
  void start() { loop_.start(); }
  void stop() { loop_.stop(); }
  std::vector<std::string> acknowledged() {
    std::lock_guard<std::mutex> lock(mutex_);
    return acked_;
  }

 private:
  void step(const std::set<std::uint64_t>& members) {
    if (!members.count(target_)) target_ = *members.begin();
    auto stub = make_stub(c_.grpc_address(target_));
    grpc::ClientContext ctx;
    set_deadline(ctx, milliseconds(8000));
    scheduler::SubmitJobRequest req;
    req.set_command("echo member-load-" + std::to_string(n_));
    scheduler::SubmitJobResponse resp;
    auto s = stub->SubmitJob(&ctx, req, &resp);
    if (s.ok()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        acked_.push_back(resp.job_id());
      }
      ++n_;
      std::this_thread::sleep_for(milliseconds(50));
      return;
    }
    // A redirect names the leader; otherwise try the next member.
    auto md = ctx.GetServerTrailingMetadata();
    auto it = md.find("leader-id");
    std::uint64_t hint = 0;
    if (it != md.end()) hint = std::strtoull(std::string(it->second.data(), it->second.size()).c_str(), nullptr, 10);
    if (hint != 0 && members.count(hint) && hint != target_) {
      target_ = hint;
    } else {
      auto next = members.upper_bound(target_);
      target_ = next == members.end() ? *members.begin() : *next;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  cluster& c_;
  std::mutex mutex_;  // acked_
  std::vector<std::string> acked_;
  int n_ = 0;
  std::uint64_t target_ = 0;
  member_loop loop_{[this](const std::set<std::uint64_t>& m) { step(m); }};  // last: stops first
};

// Polls every current member's GetClusterStatus and records the longest
// stretch in which none of them answered with a leader.
class leader_watch {
 public:
  explicit leader_watch(cluster& c) : c_(c) {}
  void set_members(std::set<std::uint64_t> m) { loop_.set_members(std::move(m)); }
  void start() {
    last_seen_ = std::chrono::steady_clock::now();
    loop_.start();
  }
  void stop() { loop_.stop(); }
  milliseconds longest_gap() const { return milliseconds(longest_ms_.load()); }

 private:
  void step(const std::set<std::uint64_t>& members) {
    bool leader = false;
    for (auto id : members) {
      scheduler::GetClusterStatusResponse s;
      if (c_.status(id, s, milliseconds(500)) && s.leader_id() != 0 && members.count(s.leader_id())) {
        leader = true;
        break;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (leader) {
      auto gap = std::chrono::duration_cast<milliseconds>(now - last_seen_).count();
      if (gap > longest_ms_) longest_ms_ = gap;
      last_seen_ = now;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }

  cluster& c_;
  std::chrono::steady_clock::time_point last_seen_;  // the loop's thread only, after start()
  std::atomic<std::int64_t> longest_ms_{0};
  member_loop loop_{[this](const std::set<std::uint64_t>& m) { step(m); }};  // last: stops first
};

// A membership change the leader refuses as retryable (right after a
// handover its term has no committed entry yet, or another change is still
// pending) is what a client is told to retry; the test does so, bounded.
process_result member_change(cluster& c, const std::set<std::uint64_t>& via, const std::vector<std::string>& args) {
  auto r = cli(c, {via.begin(), via.end()}, args);
  for (int i = 0; i < 50 && r.exit_code != 0 && r.output.find("retry shortly") != std::string::npos; ++i) {
    std::this_thread::sleep_for(milliseconds(200));
    r = cli(c, {via.begin(), via.end()}, args);
  }
  return r;
}

// With its raft wire when it has one: the other members learn the wire
// address from the configuration entry, as they learn its gRPC address.
void add_node(cluster& c, const std::set<std::uint64_t>& via, std::uint64_t id) {
  std::vector<std::string> args{"member", "add", std::to_string(id), c.grpc_address(id), "--http", c.http_address(id)};
  if (!c.wire_address(id).empty()) args.insert(args.end(), {"--wire", c.wire_address(id)});
  auto r = member_change(c, via, args);
  REQUIRE_MESSAGE(r.exit_code == 0, "member add " << id << ": " << r.output);
  c.start(id);
  std::set<std::uint64_t> now = via;
  now.insert(id);
  pb::ListMembersResponse m;
  const bool voter = wait_until(milliseconds(30000), [&] { return leader_members(c, now, m) && is_voter(m, id) && m.committed(); },
                                milliseconds(200));
  REQUIRE_MESSAGE(voter, "node " << id << " did not become a voter");
}

void remove_node(cluster& c, const std::set<std::uint64_t>& via, std::uint64_t id) {
  auto r = member_change(c, via, {"member", "remove", std::to_string(id)});
  REQUIRE_MESSAGE(r.exit_code == 0, "member remove " << id << ": " << r.output);
  std::set<std::uint64_t> rest = via;
  rest.erase(id);
  pb::ListMembersResponse m;
  REQUIRE(wait_until(milliseconds(15000), [&] { return leader_members(c, rest, m) && !is_member(m, id) && m.committed(); },
                     milliseconds(200)));
  // The removed node hears it from the others' refusals and says so; the
  // others drop their channel to it.
  CHECK(wait_until(milliseconds(20000), [&] {
    auto log = c.log_text(id);
    return log.find("it no longer belongs to the cluster") != std::string::npos ||
           log.find("was removed from the cluster") != std::string::npos;
  }, milliseconds(200)));
  for (auto other : rest)
    CHECK_MESSAGE(wait_until(milliseconds(10000), [&] {
                    return c.log_text(other).find("-node " + std::to_string(id)) != std::string::npos;
                  }, milliseconds(200)),
                  "node " << other << " still has a channel to node " << id);
  // No remaining node lists it any more, in GetClusterStatus either.
  for (auto other : rest) {
    scheduler::GetClusterStatusResponse s;
    REQUIRE(c.status(other, s));
    for (const auto& n : s.nodes()) CHECK(n.node_id() != id);
  }
  c.terminate(id);
}

}  // namespace

TEST_SUITE("membership") {
  TEST_CASE("grow a live 3-node cluster to 5 and shrink it back to 3 under submit load") {
    cluster_options o;
    o.spare_nodes = 2;
    cluster c(o);
    c.start_all();
    const auto first_leader = c.wait_for_leader();
    REQUIRE(first_leader != 0);
    std::set<std::uint64_t> members{1, 2, 3};
    submit_load load(c);
    leader_watch watch(c);
    load.set_members(members);
    watch.set_members(members);
    load.start();
    watch.start();
    REQUIRE(wait_until(milliseconds(10000), [&] { return load.acknowledged().size() >= 5; }));

    for (std::uint64_t id : {4, 5}) {
      add_node(c, members, id);
      members.insert(id);
      load.set_members(members);
      watch.set_members(members);
    }
    // Every member's own status lists the five (the replicated configuration),
    // with the added nodes' wire addresses.
    for (auto id : members) {
      pb::ListMembersResponse mine;
      REQUIRE(wait_until(milliseconds(10000), [&] { return list_members(c, id, true, mine) && mine.members_size() == 5; }));
      // The first three's wires stay out of the log: only their peers'
      // [[members]] name them (entries that carry one need feature level 5).
      for (const auto& x : mine.members())
        CHECK(x.wire_address() == (x.id() >= 4 ? c.wire_address(x.id()) : std::string()));
    }
    // The leader's appends reach the added nodes over their wires, which no
    // [[members]] entry of the first three names.
    for (std::uint64_t added : {4, 5})
      CHECK_MESSAGE(wait_until(milliseconds(10000), [&] {
                      for (std::uint64_t id : {1, 2, 3})
                        if (c.log_text(id).find("appends to node " + std::to_string(added) + " go over the raft wire") !=
                            std::string::npos)
                          return true;
                      return false;
                    }, milliseconds(200)),
                    "no member sends node " << added << " its appends over the wire");
    const auto grown = load.acknowledged().size();
    REQUIRE(wait_until(milliseconds(15000), [&] { return load.acknowledged().size() >= grown + 5; }));

    // Shrink: the leader first (through the CLI's redirect), then another original node.
    pb::ListMembersResponse m;
    REQUIRE(leader_members(c, members, m));
    const std::uint64_t leader = m.leader_id();
    REQUIRE(members.count(leader));
    auto shrink = [&](std::uint64_t id) {
      auto rest = members;
      rest.erase(id);
      load.set_members(rest);
      remove_node(c, members, id);
      // Until the removal committed, the node being removed may still lead.
      watch.set_members(rest);
      members = rest;
    };
    shrink(leader);
    std::uint64_t second = 0;
    REQUIRE(leader_members(c, members, m));
    for (std::uint64_t id : {1, 2, 3})
      if (members.count(id) && id != m.leader_id()) second = id;
    REQUIRE(second != 0);
    shrink(second);
    REQUIRE(members.size() == 3);
    const auto shrunk = load.acknowledged().size();
    REQUIRE(wait_until(milliseconds(15000), [&] { return load.acknowledged().size() >= shrunk + 5; }));
    load.stop();
    watch.stop();

    // No period without a leader longer than two election timeouts (each at
    // most 2 * election_ticks ticks).
    const milliseconds two_timeouts(2 * 2 * o.election_ticks * o.tick_ms);
    MESSAGE("longest stretch without a leader: " << watch.longest_gap().count() << " ms (bound "
                                                 << two_timeouts.count() << " ms)");
    CHECK(watch.longest_gap() <= two_timeouts);

    // No acknowledged job lost: every one exists on the remaining cluster and completes.
    const auto acked = load.acknowledged();
    MESSAGE(acked.size() << " jobs acknowledged during the changes");
    const std::uint64_t some = *members.begin();
    std::size_t completed = 0, on_new_nodes = 0;
    for (const auto& id : acked) {
      auto st = wait_for_job(c.stub(some), id, milliseconds(30000));
      CHECK_MESSAGE(st.status() == scheduler::JOB_STATUS_COMPLETED, "job " << id << " ended " << st.status());
      if (st.status() == scheduler::JOB_STATUS_COMPLETED) ++completed;
      if (st.executed_by() == 4 || st.executed_by() == 5) ++on_new_nodes;
    }
    CHECK(completed == acked.size());
    // The nodes added later took jobs once they were voters (workers).
    MESSAGE(on_new_nodes << " of them ran on nodes 4 and 5");
    CHECK(on_new_nodes > 0);

    // The configuration is persisted: a restarted member (whose config file
    // still says join = true and lists the first three) comes back with it.
    const std::uint64_t restarted = 4;
    REQUIRE(members.count(restarted));
    c.terminate(restarted);
    c.start(restarted);
    pb::ListMembersResponse after;
    REQUIRE(wait_until(milliseconds(20000), [&] { return list_members(c, restarted, true, after) && after.leader_id() != 0; },
                       milliseconds(200)));
    std::set<std::uint64_t> listed;
    for (const auto& x : after.members()) {
      listed.insert(x.id());
      CHECK(x.voter());
    }
    CHECK(listed == members);
    scheduler::SubmitJobResponse r;
    CHECK(wait_until(milliseconds(15000), [&] {
      for (auto id : members)
        if (submit(c.stub(id), "echo after-restart", &r).ok()) return true;
      return false;
    }, milliseconds(200)));
  }
}

namespace {

const std::string read_token = "member-read-token-0123456789";
const std::string admin_token = "member-admin-token-0123456789";

// A sync client's TLS channel whose first connect was refused never completes
// a later handshake with this gRPC (see security_test.cpp): no call on the
// cluster's stubs before the node listens.

// One MembershipService call on node `id`, not following redirects.
template <class Req, class Resp, class Fn>
grpc::Status member_call(cluster& c, std::uint64_t id, const client_security& sec, Fn fn, const Req& req, Resp& resp,
                         milliseconds deadline = milliseconds(15000)) {
  auto stub = pb::MembershipService::NewStub(make_channel(c.grpc_address(id), sec));
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  return ((*stub).*fn)(&ctx, req, &resp);
}

}  // namespace

TEST_SUITE("membership") {
  TEST_CASE("MembershipService errors, roles and a node certified after the cluster started (TLS)") {
    const std::string certs = std::filesystem::temp_directory_path().string() + "/troupe-member-certs-" +
                              std::to_string(::getpid());
    std::filesystem::remove_all(certs);
    make_certs({certs, "1", "2", "3"});  // node 4's certificate comes later, from the same CA
    cluster_options o;
    o.spare_nodes = 1;
    o.tls_dir = certs;
    o.tokens = {{"reader", read_token, "read"}, {"ops", admin_token, "admin"}};
    o.client = client_security{certs + "/ca.crt", "", "", admin_token};
    cluster c(o);
    c.start_all();
    REQUIRE(c.wait_serving({1, 2, 3}, milliseconds(20000)));
    const auto leader = c.wait_for_leader();
    REQUIRE(leader != 0);
    const client_security admin{certs + "/ca.crt", "", "", admin_token};
    const client_security reader{certs + "/ca.crt", "", "", read_token};

    SUBCASE("typed errors") {
      pb::AddMemberRequest add;
      pb::AddMemberResponse added;
      add.set_id(2);
      add.set_address("127.0.0.1:1");
      auto s = member_call(c, leader, admin, &pb::MembershipService::Stub::AddMember, add, added);
      CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);  // already a member
      CHECK(s.error_message().find("already a member") != std::string::npos);

      pb::RemoveMemberRequest rm;
      pb::RemoveMemberResponse removed;
      rm.set_id(9);
      s = member_call(c, leader, admin, &pb::MembershipService::Stub::RemoveMember, rm, removed);
      CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);

      add.set_id(7);
      for (const char* bad : {"no-port", "0.0.0.0:5000", "127.0.0.1:99999", ""}) {
        add.set_address(bad);
        s = member_call(c, leader, admin, &pb::MembershipService::Stub::AddMember, add, added);
        CHECK_MESSAGE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT, "address \"" << bad << "\": " << s.error_message());
      }
      add.set_address(c.grpc_address(1));  // node 1's address
      s = member_call(c, leader, admin, &pb::MembershipService::Stub::AddMember, add, added);
      CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      // A wire address: dialable, a port of its own, no other member's.
      add.set_address("127.0.0.1:5000");
      REQUIRE(!c.wire_address(1).empty());
      for (const std::string& bad : {std::string("0.0.0.0:5001"), std::string("no-port"), std::string("127.0.0.1:5000"),
                                     c.wire_address(1), c.grpc_address(2)}) {
        add.set_wire_address(bad);
        s = member_call(c, leader, admin, &pb::MembershipService::Stub::AddMember, add, added);
        CHECK_MESSAGE(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT, "wire \"" << bad << "\": " << s.error_message());
      }
      add.clear_wire_address();

      add.set_address("127.0.0.1:5000");
      s = member_call(c, leader, reader, &pb::MembershipService::Stub::AddMember, add, added);
      CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
      s = member_call(c, leader, reader, &pb::MembershipService::Stub::RemoveMember, rm, removed);
      CHECK(s.error_code() == grpc::StatusCode::PERMISSION_DENIED);
      pb::ListMembersResponse list;
      CHECK(member_call(c, leader, reader, &pb::MembershipService::Stub::ListMembers, pb::ListMembersRequest{}, list).ok());
      CHECK(list.members_size() == 3);
      CHECK(list.committed());

      // A follower redirects changes and the leader's list to the leader.
      const auto follower = c.some_follower(leader);
      grpc::ClientContext ctx;
      set_deadline(ctx, milliseconds(5000));
      auto stub = pb::MembershipService::NewStub(make_channel(c.grpc_address(follower), admin));
      s = stub->RemoveMember(&ctx, rm, &removed);
      CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
      CHECK(s.error_message().rfind("Not the leader", 0) == 0);
      auto md = ctx.GetServerTrailingMetadata();
      auto it = md.find("leader-id");
      REQUIRE(it != md.end());
      CHECK(std::string(it->second.data(), it->second.size()) == std::to_string(leader));

      // The CLI says the same, with its exit code.
      auto r = cli(c, {follower}, {"member", "remove", "9"},
                   {"--ca-file", certs + "/ca.crt", "--token", admin_token});
      CHECK(r.exit_code != 0);
      CHECK(r.output.find("node 9 is not a member") != std::string::npos);  // NOT_FOUND, through the redirect
    }

    SUBCASE("a second change while the first is not committed: FAILED_PRECONDITION") {
      // With both followers paused the leader cannot commit; it keeps leading
      // for at least one election timeout (check_quorum), long enough for two
      // calls made back to back. When it stepped down first, try again (bounded).
      bool seen = false;
      for (int attempt = 0; attempt < 3 && !seen; ++attempt) {
        const auto l = c.wait_for_leader();
        REQUIRE(l != 0);
        std::vector<std::uint64_t> paused;
        for (auto id : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}})
          if (id != l) paused.push_back(id);
        for (auto id : paused) ::kill(c.pid(id), SIGSTOP);
        pb::AddMemberRequest first;
        first.set_id(11);
        first.set_address("127.0.0.1:5011");
        pb::AddMemberResponse first_resp;
        grpc::Status first_status;
        std::thread t([&] {
          first_status = member_call(c, l, admin, &pb::MembershipService::Stub::AddMember, first, first_resp,
                                     milliseconds(3000));
        });
        pb::ListMembersResponse list;
        // Wait (bounded) until the first change is appended: the leader's list shows it uncommitted.
        wait_until(milliseconds(2000), [&] {
          return member_call(c, l, admin, &pb::MembershipService::Stub::ListMembers, pb::ListMembersRequest{}, list).ok() &&
                 !list.committed();
        }, milliseconds(10));
        pb::RemoveMemberRequest second;
        second.set_id(paused.front());
        pb::RemoveMemberResponse second_resp;
        auto s = member_call(c, l, admin, &pb::MembershipService::Stub::RemoveMember, second, second_resp);
        t.join();
        for (auto id : paused) ::kill(c.pid(id), SIGCONT);
        if (s.error_message().rfind("Not the leader", 0) == 0) continue;  // it stepped down first
        CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
        CHECK(s.error_message().find("one change at a time") != std::string::npos);
        seen = true;
      }
      CHECK(seen);
      // The first change commits once the followers are back.
      REQUIRE(c.wait_for_leader() != 0);
      pb::ListMembersResponse list;
      REQUIRE(wait_until(milliseconds(15000), [&] {
        auto l = c.agreed_leader();
        return l != 0 &&
               member_call(c, l, admin, &pb::MembershipService::Stub::ListMembers, pb::ListMembersRequest{}, list).ok() &&
               list.committed();
      }, milliseconds(200)));
    }

    SUBCASE("a node certified after the cluster started joins over TLS and becomes a voter") {
      make_certs({certs, "4"});  // the existing CA signs node-4
      auto r = cli(c, {1, 2, 3}, {"member", "add", "4", c.grpc_address(4), "--http", c.http_address(4)},
                   {"--ca-file", certs + "/ca.crt", "--token", admin_token});
      REQUIRE_MESSAGE(r.exit_code == 0, r.output);
      CHECK(r.output.find("learner") != std::string::npos);
      c.start(4);
      REQUIRE(c.wait_serving({4}, milliseconds(20000)));
      pb::ListMembersResponse list;
      REQUIRE(wait_until(milliseconds(30000), [&] {
        auto l = c.agreed_leader();
        return l != 0 &&
               member_call(c, l, admin, &pb::MembershipService::Stub::ListMembers, pb::ListMembersRequest{}, list).ok() &&
               is_voter(list, 4) && list.committed();
      }, milliseconds(200)));
      // GetClusterStatus lists it; the CLI's list says voter.
      scheduler::GetClusterStatusResponse st;
      REQUIRE(c.status(4, st));
      bool listed = false;
      for (const auto& n : st.nodes())
        if (n.node_id() == 4) listed = n.role() == "follower" || n.role() == "leader";
      CHECK(listed);
      auto out = cli(c, {4}, {"-o", "json", "member", "list"}, {"--ca-file", certs + "/ca.crt", "--token", read_token});
      CHECK(out.exit_code == 0);
      CHECK(out.output.find("\"voter\": true") != std::string::npos);
      // Removed again: with TLS too, its certificate no longer makes it a
      // member, and the refusals tell it so.
      auto rm = cli(c, {1, 2, 3}, {"member", "remove", "4"}, {"--ca-file", certs + "/ca.crt", "--token", admin_token});
      REQUIRE_MESSAGE(rm.exit_code == 0, rm.output);
      CHECK(wait_until(milliseconds(20000), [&] {
        return c.log_text(4).find("it no longer belongs to the cluster") != std::string::npos;
      }, milliseconds(200)));
    }
    std::filesystem::remove_all(certs);
  }
}

TEST_SUITE("membership") {
  // A member that was down while a node was added, and that node then took
  // the lead: the member's log ends at a configuration that lists the
  // member itself but not its leader, and its transport accepts Raft
  // traffic from members only. It learns the leader from a member it does
  // list (the WorkerHeartbeat answer names the leader and its address), and
  // catches up.
  TEST_CASE("a member that slept through a node's addition follows that node once it leads") {
    cluster_options o;
    o.spare_nodes = 1;
    cluster c(o);
    c.start_all();
    REQUIRE(c.wait_for_leader() != 0);
    c.terminate(3);  // asleep: its log ends with the configuration {1, 2, 3}
    add_node(c, {1, 2}, 4);
    auto moved = member_change(c, {1, 2, 4}, {"cluster", "transfer-leader", "--to", "4"});
    REQUIRE_MESSAGE(moved.exit_code == 0, moved.output);
    pb::ListMembersResponse m;
    REQUIRE(wait_until(milliseconds(10000), [&] { return list_members(c, 4, true, m) && m.leader_id() == 4; },
                       milliseconds(200)));
    scheduler::SubmitJobResponse r;
    REQUIRE(submit(c.stub(4), "echo while-3-slept", &r).ok());
    c.start(3);
    // Node 3's own view: the configuration with node 4, led by node 4, and the job.
    CHECK(wait_until(milliseconds(20000), [&] {
      pb::ListMembersResponse mine;
      return list_members(c, 3, true, mine) && mine.leader_id() == 4 && mine.members_size() == 4;
    }, milliseconds(200)));
    CHECK(c.log_text(3).find("node 4 leads") != std::string::npos);
    auto st = wait_for_job(c.stub(3), r.job_id(), milliseconds(20000));
    CHECK(st.status() == scheduler::JOB_STATUS_COMPLETED);
  }
}
