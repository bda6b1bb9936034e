#include "tests/raft/sim/checker.hpp"

#include <algorithm>

namespace troupe::raft::sim {

namespace {
std::string describe(const entry& e) {
  return "{index " + std::to_string(e.index) + ", term " + std::to_string(e.term) + ", " +
         (e.type == entry_type::noop     ? std::string("noop")
          : e.type == entry_type::config ? std::string("config")
                                         : "data '" + e.data + "'") +
         "}";
}
std::string node_name(node_id n) { return "node " + std::to_string(n); }
}  // namespace

void checker::on_ready_entries(const core& c, const std::vector<entry>& ents) {
  for (const entry& e : ents) {
    // The term before e is what the node's log holds at e.index - 1 now.
    term_t prev = c.term_at(e.index - 1).value_or(0);  // 0: compacted, unknown
    auto key = std::make_pair(e.index, e.term);
    auto [it, fresh] = entry_at_.emplace(key, std::make_pair(e, prev));
    if (fresh) continue;
    if (!(it->second.first == e)) {
      throw safety_violation("Log Matching: " + node_name(c.id()) + " writes " + describe(e) +
                             " but another log has " + describe(it->second.first) + " with the same index and term");
    }
    if (it->second.second == 0) it->second.second = prev;
    if (prev != 0 && it->second.second != prev) {
      throw safety_violation("Log Matching: " + node_name(c.id()) + " has term " + std::to_string(prev) +
                             " before " + describe(e) + " but another log has term " +
                             std::to_string(it->second.second));
    }
  }
}

void checker::record_committed(const core& c, index_t i) {
  auto t = c.term_at(i);
  if (!t) return;  // compacted: its content was checked when it was applied
  auto ents = c.entries(i, i + 1);
  if (ents.empty()) return;  // i == snapshot index
  auto it = committed_.find(i);
  if (it == committed_.end()) {
    committed_.emplace(i, committed_entry{ents.front(), c.term()});
    return;
  }
  if (!(it->second.e == ents.front())) {
    throw safety_violation("State Machine Safety: " + node_name(c.id()) + " (term " + std::to_string(c.term()) +
                           ") committed " + describe(ents.front()) + " at an index where " +
                           describe(it->second.e) + " was already committed");
  }
  it->second.observed_in = std::min(it->second.observed_in, c.term());
}

void checker::on_node_state(const core& c) {
  const node_id n = c.id();
  // Commit indexes only ever expose committed entries.
  index_t& seen = seen_commit_[n];
  for (index_t i = std::max(seen, c.first_index() - 1) + 1; i <= c.commit_index(); ++i) record_committed(c, i);
  seen = std::max(seen, c.commit_index());

  if (c.state() != role::leader) {
    leaders_.erase(n);
    return;
  }
  auto [it, fresh] = leader_of_term_.emplace(c.term(), n);
  if (!fresh && it->second != n) {
    throw safety_violation("Election Safety: " + node_name(n) + " and " + node_name(it->second) +
                           " are both leaders of term " + std::to_string(c.term()));
  }
  auto lv = leaders_.find(n);
  if (lv != leaders_.end() && lv->second.term == c.term()) {
    const leader_view& prev = lv->second;
    if (c.last_index() < prev.last ||
        (prev.last >= c.first_index() && c.term_at(prev.last) != prev.last_term)) {
      throw safety_violation("Leader Append-Only: leader " + node_name(n) + " of term " + std::to_string(c.term()) +
                             " had last entry (" + std::to_string(prev.last) + ", term " +
                             std::to_string(prev.last_term) + ") and now has last index " +
                             std::to_string(c.last_index()));
    }
  } else {
    // A new leader: it must hold every entry committed in an earlier term.
    for (auto& [i, ce] : committed_) {
      if (ce.observed_in >= c.term() || i < c.first_index()) continue;
      if (c.term_at(i) != ce.e.term) {
        throw safety_violation("Leader Completeness: " + node_name(n) + " became leader of term " +
                               std::to_string(c.term()) + " without committed entry " + describe(ce.e) +
                               " (committed by term " + std::to_string(ce.observed_in) + ")");
      }
    }
  }
  leaders_[n] = leader_view{c.term(), c.last_index(), c.term_at(c.last_index()).value_or(0)};
}

void checker::on_restart(node_id n) {
  leaders_.erase(n);
  seen_commit_.erase(n);
}

std::uint64_t checker::hash_at(index_t i) const {
  auto it = hash_at_.find(i);
  return it == hash_at_.end() ? 0 : it->second;
}

void checker::on_apply(node_id n, const entry& e, std::uint64_t hash) {
  auto it = committed_.find(e.index);
  if (it != committed_.end() && !(it->second.e == e)) {
    throw safety_violation("State Machine Safety: " + node_name(n) + " applied " + describe(e) + " where " +
                           describe(it->second.e) + " was committed");
  }
  auto [h, fresh] = hash_at_.emplace(e.index, hash);
  if (!fresh && h->second != hash) {
    throw safety_violation("State Machine Safety: " + node_name(n) + " state after applying index " +
                           std::to_string(e.index) + " differs from another node's state at that index");
  }
}

void checker::on_snapshot_install(node_id n, index_t index, std::uint64_t hash) {
  auto [h, fresh] = hash_at_.emplace(index, hash);
  if (!fresh && h->second != hash) {
    throw safety_violation("State Machine Safety: " + node_name(n) + " installed a snapshot at index " +
                           std::to_string(index) + " whose state differs from the applied state at that index");
  }
}

void checker::on_read_state(node_id n, index_t index, index_t min_index) {
  if (index < min_index) {
    throw safety_violation("ReadIndex: " + node_name(n) + " returned read index " + std::to_string(index) +
                           " but index " + std::to_string(min_index) + " was committed before the read began");
  }
}

void checker::check_durability(const std::map<node_id, const durable_store*>& disks,
                               const std::vector<node_id>& voters) const {
  const std::size_t quorum = voters.size() / 2 + 1;
  for (auto& [i, ce] : committed_) {
    std::size_t holders = 0;
    std::string who;
    for (node_id v : voters) {
      const bool has = disks.at(v)->holds(i, ce.e.term);
      holders += has ? 1 : 0;
      who += " " + std::to_string(v) + (has ? "+" : "-");
    }
    if (voters.size() - holders >= quorum) {
      throw safety_violation("Durability: committed entry " + describe(ce.e) + " is on only " +
                             std::to_string(holders) + " disks of the " + std::to_string(voters.size()) +
                             " voters of a configuration: a majority of them lacks it (voters holding it:" + who +
                             ")");
    }
  }
}

std::pair<index_t, membership> checker::latest_committed_conf() const {
  for (auto it = committed_.rbegin(); it != committed_.rend(); ++it) {
    if (it->second.e.type != entry_type::config) continue;
    auto conf = decode_membership(it->second.e.data);
    if (!conf) throw safety_violation("committed configuration entry " + describe(it->second.e) + " does not decode");
    return {it->first, *conf};
  }
  return {0, membership{}};
}

std::size_t checker::committed_conf_entries() const {
  std::size_t n = 0;
  for (auto& [i, ce] : committed_) n += ce.e.type == entry_type::config ? 1 : 0;
  return n;
}

void checker::check_durability(const std::vector<const durable_store*>& disks) const {
  for (auto& [i, ce] : committed_) {
    std::size_t holders = 0;
    for (const durable_store* d : disks) holders += d->holds(i, ce.e.term) ? 1 : 0;
    if (holders < quorum_) {
      throw safety_violation("Durability: committed entry " + describe(ce.e) + " is on only " +
                             std::to_string(holders) + " disks (quorum " + std::to_string(quorum_) + ")");
    }
  }
}

}  // namespace troupe::raft::sim
