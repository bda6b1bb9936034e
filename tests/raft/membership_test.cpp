// Thesis ch. 4: configuration changes one server at a time, learners,
// removing the leader, and configurations across truncation, restart and
// snapshots.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

namespace {

membership with(membership m, node_id id, bool voter) {
  m.put(member{id, voter, "127.0.0.1:" + std::to_string(50050 + id), "", ""});
  return m;
}
membership without(membership m, node_id id) {
  m.remove(id);
  return m;
}
// A leader that has committed an entry of its term (its noop), as
// propose_conf_change requires.
void settle(test_cluster& c) {
  c.tick_all(2);
  c.deliver_all();
}

}  // namespace

TEST_CASE("a joining server has no configuration, never campaigns, and learns the cluster's from the leader") {
  test_cluster c(3, [](config& k) { k.auto_promote = false; });
  c.add_joining(4);
  CHECK(c.node(4).conf().empty());
  c.tick(4, 100);
  CHECK(c.node(4).state() == role::follower);
  CHECK(c.count(msg_type::pre_vote) + c.count(msg_type::vote) == 0);
  c.elect(1);
  settle(c);
  auto r = c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false));
  REQUIRE(r.error == propose_error::none);
  c.drain(1);
  c.deliver_all();
  c.tick_all(3);
  CHECK(c.node(4).conf().contains(4));
  CHECK_FALSE(c.node(4).conf().is_voter(4));
  CHECK(c.node(4).last_index() == c.node(1).last_index());
  CHECK(c.node(1).commit_index() >= r.index);
  // A learner never campaigns, even when the leader is gone.
  c.crash(1);
  c.tick(4, 100);
  CHECK(c.node(4).state() == role::follower);
}

TEST_CASE("a learner is replicated to but never counted: with two voters cut off nothing commits") {
  test_cluster c(3, [](config& k) { k.auto_promote = false; });
  c.add_joining(4);
  c.elect(1);
  settle(c);
  REQUIRE(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::none);
  c.drain(1);
  c.deliver_all();
  c.tick_all(2);
  const index_t before = c.node(1).commit_index();
  c.isolate(2);
  c.isolate(3);
  auto p = c.node(1).propose("x");
  c.drain(1);
  c.deliver_all();
  CHECK(c.node(4).last_index() == p.index);  // the learner has it...
  CHECK(c.node(1).commit_index() == before);  // ...but 1 of 3 voters is no majority
  auto prog = c.node(1).progress();
  auto it = std::find_if(prog.begin(), prog.end(), [](const peer_progress& x) { return x.id == 4; });
  REQUIRE(it != prog.end());
  CHECK_FALSE(it->voter);
}

TEST_CASE("a caught-up learner is promoted by the leader, and the quorum grows with it") {
  test_cluster c(3);
  c.add_joining(4);
  c.elect(1);
  settle(c);
  REQUIRE(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::none);
  c.drain(1);
  c.deliver_all();
  for (int i = 0; i < 10 && !c.node(1).conf().is_voter(4); ++i) c.tick_all(1);
  CHECK(c.node(1).conf().is_voter(4));
  c.tick_all(2);
  CHECK_FALSE(c.node(1).conf_change_pending());
  CHECK(c.node(4).conf().is_voter(4));
  // Four voters: a majority is three. With 3 and 4 cut off, nothing commits.
  c.isolate(3);
  c.isolate(4);
  const index_t before = c.node(1).commit_index();
  c.node(1).propose("y");
  c.drain(1);
  c.deliver_all();
  CHECK(c.node(1).commit_index() == before);
}

TEST_CASE("one change at a time; not before the leader committed in its term; one voter per change") {
  test_cluster c(3, [](config& k) { k.auto_promote = false; });
  // Win the election delivering only votes: the noop of the term is then
  // appended but not committed.
  auto votes = [](const message& m) {
    return m.type == msg_type::pre_vote || m.type == msg_type::pre_vote_response || m.type == msg_type::vote ||
           m.type == msg_type::vote_response;
  };
  for (int i = 0; i < 40 && c.node(1).state() != role::leader; ++i) {
    c.tick(1);
    while (c.deliver_one(votes)) {
    }
  }
  REQUIRE(c.node(1).state() == role::leader);
  c.drop_all();
  CHECK(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::conf_change_pending);
  settle(c);
  std::string why;
  CHECK(c.node(1).propose_conf_change(with(with(c.node(1).conf(), 4, true), 5, true), &why).error ==
        propose_error::conf_change_invalid);
  CHECK(why.find("one voter") != std::string::npos);
  CHECK(c.node(1).propose_conf_change(membership{}, &why).error == propose_error::conf_change_invalid);
  c.isolate(2);
  c.isolate(3);
  REQUIRE(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::none);
  CHECK(c.node(1).conf_change_pending());
  CHECK(c.node(1).propose_conf_change(with(c.node(1).conf(), 5, false)).error == propose_error::conf_change_pending);
  CHECK(c.node(2).propose_conf_change(c.node(2).conf()).error == propose_error::not_leader);
}

TEST_CASE("removing the leader: it leads until the change commits without counting itself, then steps down") {
  test_cluster c(3);
  c.elect(1);
  settle(c);
  auto r = c.node(1).propose_conf_change(without(c.node(1).conf(), 1));
  REQUIRE(r.error == propose_error::none);
  CHECK(c.node(1).state() == role::leader);
  c.drain(1);
  c.deliver_all();
  c.tick_all(1);
  CHECK(c.node(1).state() == role::follower);
  CHECK(c.node(2).commit_index() >= r.index);
  // The rest elect a leader among themselves; the removed server stays quiet.
  for (int i = 0; i < 40 && c.node(2).state() != role::leader && c.node(3).state() != role::leader; ++i) c.tick_all(1);
  CHECK((c.node(2).state() == role::leader || c.node(3).state() == role::leader));
  const node_id lead = c.node(2).state() == role::leader ? 2 : 3;
  c.tick(1, 60);
  CHECK(c.node(1).state() == role::follower);
  auto p = c.node(lead).propose("after");
  c.drain(lead);
  c.deliver_all();
  c.tick_all(2);
  CHECK(c.node(lead).commit_index() >= p.index);
  CHECK(c.node(lead).conf().voters() == std::vector<node_id>{2, 3});
}

TEST_CASE("an uncommitted configuration overwritten by a new leader takes its configuration with it") {
  test_cluster c(3, [](config& k) { k.auto_promote = false; });
  c.elect(1);
  settle(c);
  c.isolate(1);
  REQUIRE(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::none);
  c.drain(1);
  CHECK(c.node(1).conf().contains(4));
  // 2 and 3 elect a leader of a new term (once their lease on 1 expired)
  // while 1 holds its uncommitted entry.
  node_id lead = no_node;
  for (int i = 0; i < 60 && lead == no_node; ++i) {
    c.tick_all(1);
    for (node_id n : {2, 3})
      if (c.node(n).state() == role::leader) lead = n;
  }
  REQUIRE(lead != no_node);
  c.node(lead).propose("from the new leader");
  c.drain(lead);
  c.deliver_all();
  c.heal();
  c.tick_all(3);
  CHECK(c.node(1).leader() == lead);
  CHECK_FALSE(c.node(1).conf().contains(4));
  CHECK(c.node(1).conf() == membership::of_voters({1, 2, 3}));
}

TEST_CASE("the configuration survives a restart (from the log) and compaction (in the snapshot)") {
  test_cluster c(3, [](config& k) { k.auto_promote = false; });
  c.add_joining(4);
  c.elect(1);
  settle(c);
  REQUIRE(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::none);
  c.drain(1);
  c.deliver_all();
  c.tick_all(2);
  const membership conf = c.node(1).conf();
  c.crash(2);
  c.restart(2);
  CHECK(c.node(2).conf() == conf);
  c.crash(4);
  c.restart(4);  // a joined server restarts with the replicated configuration, not "none"
  CHECK(c.node(4).conf() == conf);
  c.tick_all(2);
  // Compact past the configuration entry: the snapshot carries it.
  const index_t at = c.node(2).applied_index();
  const snapshot_meta meta = c.node(2).compact(snapshot{snapshot_meta{at, *c.node(2).term_at(at), {}}, "state"});
  CHECK(meta.conf == conf);
  c.disk(2).compact(snapshot{meta, "state"});
  c.crash(2);
  c.restart(2);
  CHECK(c.node(2).conf() == conf);
  CHECK(c.node(2).first_index() == at + 1);
}

TEST_CASE("a learner far behind is caught up by snapshot, which carries the configuration") {
  test_cluster c(3, [](config& k) { k.auto_promote = false; });
  c.elect(1);
  settle(c);
  for (int i = 0; i < 5; ++i) c.node(1).propose("p" + std::to_string(i));
  c.drain(1);
  c.deliver_all();
  c.tick_all(2);
  c.add_joining(4);
  REQUIRE(c.node(1).propose_conf_change(with(c.node(1).conf(), 4, false)).error == propose_error::none);
  c.drain(1);
  c.isolate(4);
  c.deliver_all();
  c.tick_all(2);
  const index_t at = c.node(1).applied_index();
  (void)c.node(1).compact(snapshot{snapshot_meta{at, *c.node(1).term_at(at), {}}, "state"});
  c.heal();
  c.tick_all(4);
  REQUIRE_FALSE(c.installed(4).empty());
  CHECK(c.installed(4).back().meta.conf == c.node(1).conf());
  CHECK(c.node(4).conf().contains(4));
}

TEST_CASE("a removed follower receives the entry that removes it and its commit, then nothing more") {
  test_cluster c(3);
  c.elect(1);
  settle(c);
  auto r = c.node(1).propose_conf_change(without(c.node(1).conf(), 3));
  REQUIRE(r.error == propose_error::none);
  c.drain(1);
  c.deliver_all();
  c.tick_all(2);
  CHECK_FALSE(c.node(3).conf().contains(3));
  CHECK(c.node(3).commit_index() >= r.index);  // it knows the removal is final
  CHECK_FALSE(c.node(3).conf_change_pending());
  c.node(1).propose("later");
  c.drain(1);
  CHECK(c.count(msg_type::append, 3) == 0);
  CHECK(c.count(msg_type::heartbeat, 3) == 0);
  c.tick_all(30);
  CHECK(c.node(3).state() == role::follower);  // not a voter: never campaigns
}

TEST_CASE("the encoding: version 1 without wire addresses (what older builds read), version 2 with them") {
  membership plain = with(with(membership{}, 1, true), 2, false);
  const std::string v1 = encode(plain);
  CHECK(v1.substr(0, 5) == std::string("TRMB\x01", 5));
  CHECK(decode_membership(v1) == plain);
  // Byte for byte what builds before wire addresses wrote for the same configuration.
  std::string old("TRMB\x01\x02\0\0\0", 9);
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) old.push_back(static_cast<char>(v >> (8 * i)));
  };
  for (node_id id : {1, 2}) {
    const std::string addr = "127.0.0.1:" + std::to_string(50050 + id);
    put(id, 8);
    old.push_back(id == 1 ? 1 : 0);
    put(addr.size(), 4);
    old += addr;
    put(0, 4);
  }
  CHECK(v1 == old);

  membership wired = plain;
  member m = *wired.find(2);
  m.wire_address = "127.0.0.1:50062";
  wired.put(m);
  const std::string v2 = encode(wired);
  CHECK(v2.substr(0, 5) == std::string("TRMB\x02", 5));
  const auto back = decode_membership(v2);
  REQUIRE(back.has_value());
  CHECK(*back == wired);
  CHECK(back->find(2)->wire_address == "127.0.0.1:50062");
  CHECK(back->find(1)->wire_address.empty());
  std::string why;
  CHECK_FALSE(decode_membership(v2.substr(0, v2.size() - 3), &why));
  CHECK(why.find("truncated member") != std::string::npos);
  std::string v3 = v2;
  v3[4] = 3;
  CHECK_FALSE(decode_membership(v3, &why));
  CHECK(why == "unsupported membership encoding version 3");
}
