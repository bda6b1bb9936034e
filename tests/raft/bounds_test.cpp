// Issue 11 bounds in the core: append messages capped in bytes (etcd's
// MaxSizePerMsg) and terms that can never wrap.
#include <doctest/doctest.h>

#include "tests/raft/test_cluster.hpp"

using namespace troupe::raft;
using troupe::raft::test::test_cluster;

namespace {
std::size_t entry_bytes(const message& m) {
  std::size_t n = 0;
  for (auto& e : m.entries) n += e.data.size();
  return n;
}
}  // namespace

TEST_CASE("append messages are capped in bytes; one entry larger than the cap still travels alone") {
  test_cluster c(3, [](config& k) { k.max_append_bytes = 1000; });
  c.elect(1);
  c.tick_all(1);
  c.drop_all();
  const std::size_t seen_before = c.history(1).size();
  for (int i = 0; i < 10; ++i) c.node(1).propose(std::string(300, static_cast<char>('a' + i)));
  c.node(1).propose(std::string(5000, 'z'));  // larger than the cap on its own
  c.drain(1);
  c.deliver_all();
  c.tick_all(3);
  // Every append the leader sent, as it left the leader.
  std::size_t max_seen = 0;
  int appends = 0, big_alone = 0;
  for (std::size_t k = seen_before; k < c.history(1).size(); ++k)
    for (auto& m : c.history(1)[k].messages) {
      if (m.type != msg_type::append || m.entries.empty()) continue;
      ++appends;
      if (m.entries.size() == 1 && m.entries[0].data.size() == 5000) ++big_alone;
      if (m.entries.size() > 1) max_seen = std::max(max_seen, entry_bytes(m));
      for (auto& e : m.entries) CHECK((e.data.size() != 5000 || m.entries.size() == 1));
    }
  CHECK(max_seen <= 1000);
  CHECK(max_seen >= 900);  // three 300-byte entries per message, not one
  CHECK(big_alone >= 2);   // once per follower (more only if resent)
  CHECK(appends >= 10);    // per follower: 10 * 300 bytes need 4 messages, plus the big one
  for (node_id id : {1, 2, 3}) CHECK(c.node(id).commit_index() == 12);
}

TEST_CASE("a follower behind by 100 entries of 200 KiB catches up under the 1 MiB default") {
  test_cluster c(3);  // defaults: max_append_bytes = 1 MiB
  c.elect(1);
  c.tick_all(1);
  c.isolate(3);
  const std::string big(200 << 10, 'x');
  for (int i = 0; i < 100; ++i) {
    REQUIRE(c.node(1).propose(big).error == propose_error::none);
    c.drain(1);
    c.deliver_all();
  }
  c.tick_all(2);
  CHECK(c.node(2).commit_index() == 101);
  CHECK(c.node(3).last_index() == 1);
  c.heal();
  const std::size_t seen_before = c.history(1).size();
  for (int i = 0; i < 200 && c.node(3).commit_index() < 101; ++i) c.tick_all(1);
  // Every append the leader sent node 3 while it caught up.
  std::size_t largest = 0;
  int appends = 0;
  for (std::size_t k = seen_before; k < c.history(1).size(); ++k)
    for (auto& m : c.history(1)[k].messages)
      if (m.type == msg_type::append && m.to == 3 && !m.entries.empty()) {
        ++appends;
        largest = std::max(largest, entry_bytes(m));
      }
  CHECK(appends >= 20);  // 100 * 200 KiB in messages of at most 1 MiB
  CHECK(c.node(3).commit_index() == 101);
  CHECK(c.applied(3).size() == 101);
  CHECK(largest > 0);
  CHECK(largest <= (1u << 20));
  CHECK(c.node(1).state() == role::leader);  // no leadership flapping meanwhile
}

TEST_CASE("a term at the bound never wraps: the node refuses to campaign and stays a follower") {
  config k;
  k.id = 1;
  k.voters = {1, 2, 3};
  restored_state s;
  s.hs = hard_state{max_term - 1, no_node, 0};
  std::uint64_t r = 0;
  core n(k, [&r] { return r++; }, s);
  for (int i = 0; i < 100; ++i) n.tick();
  CHECK(n.term() == max_term - 1);
  CHECK(n.state() == role::follower);
  // Pre-vote off: a direct campaign would otherwise bump the term to max_term.
  k.pre_vote = false;
  core m(k, [&r] { return r++; }, s);
  for (int i = 0; i < 100; ++i) m.tick();
  CHECK(m.term() == max_term - 1);
  CHECK(m.state() == role::follower);
}

TEST_CASE("a message with a term at or above the bound is ignored by the core") {
  test_cluster c(3);
  c.elect(1);
  const auto before = c.node(2).term();
  message m;
  m.type = msg_type::heartbeat;
  m.from = 3;
  m.to = 2;
  m.term = ~term_t{0};  // issue 11: 2^64-1 wrapped terms to 0
  c.node(2).step(m);
  m.term = max_term;
  c.node(2).step(m);
  CHECK(c.node(2).term() == before);
  CHECK(c.node(2).leader() == 1);
}
