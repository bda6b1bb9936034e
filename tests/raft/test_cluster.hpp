// In-test network for the paper-section unit tests (NuRaft style): the test
// decides exactly when each message is delivered, dropped or held back.
// Each node persists its ready into a simulated disk immediately.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "runtime/raft/core.hpp"
#include "tests/raft/sim/durable_store.hpp"

namespace troupe::raft::test {

class test_cluster {
 public:
  explicit test_cluster(int n, std::function<void(config&)> tweak = {}) : tweak_(std::move(tweak)) {
    for (int i = 1; i <= n; ++i) ids_.push_back(static_cast<node_id>(i));
    all_ = ids_;
    for (node_id id : ids_) boot(id, {});
  }

  // Starts server `id`, not in the seed list, with no configuration: what a
  // node started for `troupe member add` does (config.join).
  void add_joining(node_id id) {
    joining_.insert(id);
    all_.push_back(id);
    boot(id, {});
  }

  // Replaces node `id` with one restored from `init` (its disk is set to match).
  void boot(node_id id, restored_state init) {
    auto& s = slots_[id];
    s.disk.hs = init.hs;
    s.disk.snap = snapshot{init.snap, init.snap_data};
    s.disk.entries = init.entries;
    s.rng = std::make_unique<std::mt19937_64>(id);
    auto* r = s.rng.get();
    s.c = std::make_unique<core>(config_for(id), [r] { return (*r)(); }, std::move(init));
    s.applied.clear();
    s.up = true;
  }

  config config_for(node_id id) const {
    config c;
    c.id = id;
    c.voters = ids_;
    c.join = joining_.count(id) > 0;
    if (tweak_) tweak_(c);
    return c;
  }

  core& node(node_id id) { return *slots_.at(id).c; }
  sim::durable_store& disk(node_id id) { return slots_.at(id).disk; }
  std::vector<entry>& applied(node_id id) { return slots_.at(id).applied; }
  std::vector<read_state>& reads(node_id id) { return slots_.at(id).reads; }
  std::vector<snapshot>& installed(node_id id) { return slots_.at(id).installed; }
  std::vector<ready>& history(node_id id) { return slots_.at(id).history; }
  std::deque<message>& queue() { return queue_; }

  // Drains a node's readies: persist, queue messages, apply, advance.
  void drain(node_id id) {
    auto& s = slots_.at(id);
    for (int guard = 0; guard < 100 && s.c->has_ready(); ++guard) {
      ready r = s.c->take_ready();
      s.disk.persist(r);
      for (auto& m : r.messages) {
        if (!cut_.count(m.from) && !cut_.count(m.to)) queue_.push_back(m);
      }
      if (r.snapshot) s.installed.push_back(*r.snapshot);
      for (auto& e : r.committed) s.applied.push_back(e);
      for (auto& rs : r.read_states) s.reads.push_back(rs);
      s.c->advance(r);
      s.history.push_back(std::move(r));
    }
  }
  void drain_all() {
    for (node_id id : all_) {
      if (slots_.at(id).up) drain(id);
    }
  }

  void tick(node_id id, int times = 1) {
    for (int i = 0; i < times; ++i) {
      node(id).tick();
      drain(id);
    }
  }
  // Ticks every live node once, then delivers everything.
  void tick_all(int times = 1) {
    for (int i = 0; i < times; ++i) {
      for (node_id id : all_) {
        if (slots_.at(id).up) tick(id);
      }
      deliver_all();
    }
  }

  // Delivers the first queued message matching `pick`; false if none.
  bool deliver_one(const std::function<bool(const message&)>& pick = {}) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (pick && !pick(*it)) continue;
      message m = *it;
      queue_.erase(it);
      if (!slots_.count(m.to)) return true;  // a server that was never started: lost
      auto& s = slots_.at(m.to);
      if (!s.up || cut_.count(m.from) || cut_.count(m.to)) return true;
      s.c->step(m);
      drain(m.to);
      return true;
    }
    return false;
  }
  // Delivers until the network is quiet (bounded); returns the count.
  int deliver_all(int bound = 100000) {
    int n = 0;
    while (n < bound && deliver_one()) ++n;
    return n;
  }
  void drop_all() { queue_.clear(); }
  int count(msg_type t, node_id to = 0) const {
    int n = 0;
    for (auto& m : queue_) n += (m.type == t && (to == 0 || m.to == to)) ? 1 : 0;
    return n;
  }

  void isolate(node_id id) { cut_.insert(id); }
  void heal() { cut_.clear(); }

  // Crash: in-memory state is gone, the disk stays.
  void crash(node_id id) { slots_.at(id).up = false; }
  void restart(node_id id) {
    auto& s = slots_.at(id);
    auto st = s.disk.restore();
    boot(id, st);
  }

  // Makes `id` time out and win an election with everyone reachable.
  void elect(node_id id) {
    const int timeout = 2 * config_for(id).election_tick;  // randomized timeout is below this
    for (int i = 0; i < timeout && node(id).state() != role::leader; ++i) {
      tick(id);
      deliver_all();
    }
  }

  const std::vector<node_id>& ids() const { return ids_; }

 private:
  struct slot {
    std::unique_ptr<core> c;
    std::unique_ptr<std::mt19937_64> rng;
    sim::durable_store disk;
    std::vector<entry> applied;
    std::vector<read_state> reads;
    std::vector<snapshot> installed;
    std::vector<ready> history;
    bool up = true;
  };
  std::function<void(config&)> tweak_;
  std::vector<node_id> ids_;  // the seed list
  std::vector<node_id> all_;  // seeds and joiners
  std::set<node_id> joining_;
  std::map<node_id, slot> slots_;
  std::deque<message> queue_;
  std::set<node_id> cut_;
};

inline std::vector<std::string> data_of(const std::vector<entry>& es) {
  std::vector<std::string> out;
  for (auto& e : es) {
    if (e.type == entry_type::normal) out.push_back(e.data);
  }
  return out;
}

}  // namespace troupe::raft::test
