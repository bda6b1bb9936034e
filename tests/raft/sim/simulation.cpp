#include "tests/raft/sim/simulation.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <random>
#include <sstream>

#include "runtime/raft/core.hpp"
#include "tests/raft/sim/checker.hpp"
#include "tests/raft/sim/durable_store.hpp"

namespace troupe::raft::sim {
namespace {

constexpr std::int64_t tick_len = 10;  // simulated time units per node tick
// During the chaos phase, the chance that a ready with several disk writes
// (snapshot, entries, hard state) is cut by a crash after one of them. Such
// readies are rare (a few per run), and this is where the order of the
// writes matters.
constexpr double torn_ready_rate = 0.5;

// The replicated state machine: a hash chain over applied entries, so two
// nodes agree on state iff they applied the same entries in the same order.
struct app_state {
  index_t index = 0;
  std::uint64_t hash = 1469598103934665603ull;

  void apply(const entry& e) {
    auto mix = [&](std::uint64_t v) { hash = (hash ^ v) * 1099511628211ull; };
    mix(e.index);
    mix(e.term);
    mix(static_cast<std::uint64_t>(e.type));
    for (unsigned char ch : e.data) mix(ch);
    index = e.index;
  }
  std::string encode(std::size_t padding) const {
    return std::to_string(index) + ":" + std::to_string(hash) + ":" + std::string(padding, 'p');
  }
  static app_state decode(const std::string& s) {
    app_state a;
    if (s.empty()) return a;
    std::istringstream in(s);
    char colon = 0;
    in >> a.index >> colon >> a.hash;
    if (!in || colon != ':') throw safety_violation("snapshot data is corrupt: '" + s.substr(0, 40) + "'");
    return a;
  }
};

// The run's randomness: the scripted bytes first, one per choice and repeated
// across the word so that both `% n` and a [0, 1) double follow the byte; then
// the seeded generator.
class choice_source {
 public:
  using result_type = std::uint64_t;
  choice_source(std::uint64_t seed, std::string_view script) : gen_(seed), script_(script) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    if (pos_ < script_.size()) return 0x0101010101010101ull * static_cast<unsigned char>(script_[pos_++]);
    return gen_();
  }

 private:
  std::mt19937_64 gen_;
  std::string_view script_;
  std::size_t pos_ = 0;
};

struct sim_node {
  node_id id = 0;
  std::unique_ptr<core> c;
  durable_store disk;
  app_state app;
  bool up = true;
  // Where to crash while driving readies (0: not armed): 1 before persisting,
  // 2 after the first of its disk writes, 3 after the second (2 and 3 wait for
  // a ready with that many writes), 4 after persisting but before sending,
  // 5 after applying but before advance.
  int crash_stage = 0;
  // raft_node's driver: one ready in flight at a time. It is persisting
  // (log_store) until `persisted_at`; meanwhile the core keeps stepping
  // messages and ticks, and its next ready waits.
  std::optional<ready> in_flight;
  std::int64_t persisted_at = 0;
  std::int64_t restart_at = 0;
  std::int64_t tick_phase = 0;
  std::mt19937_64 rng;  // the core's injected randomness
};

struct in_flight {
  std::int64_t at;
  std::uint64_t seq;
  message m;
  bool operator>(const in_flight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

class simulation {
 public:
  explicit simulation(const sim_options& o) : opts_(o), rng_(o.seed * 0x9E3779B97F4A7C15ull + 7, o.choices), chk_(o.nodes) {}

  sim_result run() {
    try {
      choose_profile();
      const int pool = opts_.nodes + (opts_.membership ? spare_nodes : 0);
      for (int i = 0; i < pool; ++i) start_node(static_cast<node_id>(i + 1));
      const std::int64_t chaos_end = opts_.chaos_ticks * tick_len;
      for (; now_ < chaos_end; ++now_) step_time(true);
      chaos_ = false;
      if (opts_.check_liveness) {
        heal_everything();
        await_leader_and_commit();
      } else {
        check_durability();
      }
    } catch (const std::exception& e) {
      res_.ok = false;
      res_.failure = "t=" + std::to_string(now_) + " (tick " + std::to_string(now_ / tick_len) + "): " + e.what();
    }
    res_.committed = chk_.committed_count();
    res_.conf_changes = chk_.committed_conf_entries();
    res_.leaders = chk_.leaders_elected();
    return res_;
  }

 private:
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  template <typename... A>
  void log(const char* fmt, A... a) {
    if (!opts_.verbose) return;
    std::printf("[t=%6lld] ", static_cast<long long>(now_));
    // Without arguments fmt is plain text; clang's -Wformat-security (the fuzz
    // build) rightly refuses a non-literal format with nothing to format.
    if constexpr (sizeof...(A) == 0)
      std::fputs(fmt, stdout);
    else
      std::printf(fmt, a...);
    std::printf("\n");
  }

  void choose_profile() {
    const double drops[] = {0.0, 0.05, 0.2};
    const double dups[] = {0.0, 0.02, 0.1};
    const std::int64_t delays[] = {2, 10, 30};
    const std::size_t batch[] = {1, 2, 64};
    const std::size_t inflight[] = {1, 4, 64};
    const std::size_t chunks[] = {8, 32, 1 << 20};
    drop_rate_ = drops[below(3)];
    leader_crash_rate_ = below(2) == 0 ? 0.0 : 0.03;
    dup_rate_ = dups[below(3)];
    max_delay_ = delays[below(3)];
    cfg_.election_tick = 10;
    cfg_.heartbeat_tick = 1;
    cfg_.max_entries_per_append = batch[below(3)];
    cfg_.max_inflight_appends = inflight[below(3)];
    cfg_.snapshot_chunk_bytes = chunks[below(3)];
    // raft_node's persist is a round trip to log_store plus fsyncs: never instant.
    const std::int64_t persist_delays[] = {1, 3, 8};
    persist_delay_ = persist_delays[below(3)];
    cfg_.pre_vote = below(4) != 0;
    cfg_.check_quorum = below(4) != 0;
    for (int i = 0; i < opts_.nodes; ++i) cfg_.voters.push_back(static_cast<node_id>(i + 1));
    // Without the CheckQuorum lease a removed server that never learned of
    // its removal disrupts the cluster with ever higher terms (thesis 4.2.3),
    // and without pre-vote a server holding a stale configuration (one
    // where it still votes, but which can no longer win) keeps bumping terms
    // and voting for itself, so the server that can win rarely gets its vote
    // (seed 105858 took over 200 ticks). troupe runs both by default, as
    // etcd recommends with membership changes; configuration runs keep both.
    if (opts_.membership) {
      cfg_.check_quorum = true;
      cfg_.pre_vote = true;
    }
    log("profile: drop %.2f dup %.2f max_delay %lld batch %zu inflight %zu chunk %zu pre_vote %d check_quorum %d "
        "persist_delay %lld write_order %s",
        drop_rate_, dup_rate_, static_cast<long long>(max_delay_), cfg_.max_entries_per_append,
        cfg_.max_inflight_appends, cfg_.snapshot_chunk_bytes, cfg_.pre_vote, cfg_.check_quorum,
        static_cast<long long>(persist_delay_),
        opts_.order == write_order::entries_first ? "entries-first" : "hard-state-first");
  }

  config node_config(node_id id) const {
    config c = cfg_;
    c.id = id;
    c.join = id > static_cast<node_id>(opts_.nodes);  // a spare waits to be added
    return c;
  }

  void boot(sim_node& n) {
    n.rng.seed(rng_());
    auto* r = &n.rng;
    n.c = std::make_unique<core>(node_config(n.id), [r] { return (*r)(); }, n.disk.restore());
    n.app = app_state::decode(std::string(n.disk.snap.data.view()));
    n.up = true;
    n.crash_stage = 0;
    n.in_flight.reset();
  }

  void start_node(node_id id) {
    auto n = std::make_unique<sim_node>();
    n->id = id;
    n->tick_phase = static_cast<std::int64_t>(below(tick_len));
    boot(*n);
    nodes_.push_back(std::move(n));
    group_.push_back(0);
  }

  sim_node& node(node_id id) { return *nodes_[id - 1]; }

  // ---- faults --------------------------------------------------------------

  void crash(sim_node& n) {
    log("crash node %llu (term %llu, %s, last %llu, commit %llu)", ull(n.id), ull(n.c->term()),
        to_string(n.c->state()), ull(n.c->last_index()), ull(n.c->commit_index()));
    n.up = false;
    n.c.reset();
    n.crash_stage = 0;
    n.in_flight.reset();  // whatever of it was not written yet is lost
    n.restart_at = now_ + static_cast<std::int64_t>(1 + below(below(2) == 0 ? 5 : 40)) * tick_len;
    ++res_.crashes;
    check_durability();
  }

  void restart(sim_node& n) {
    boot(n);
    chk_.on_restart(n.id);
    log("restart node %llu (term %llu, last %llu, commit %llu, snapshot %llu)", ull(n.id), ull(n.c->term()),
        ull(n.c->last_index()), ull(n.c->commit_index()), ull(n.disk.snap.meta.index));
    process(n);
  }

  void check_durability() {
    if (opts_.membership) return check_durability_across_configurations();
    std::vector<const durable_store*> disks;
    for (auto& n : nodes_) disks.push_back(&n->disk);
    chk_.check_durability(disks);
  }

  // Every configuration that can still elect a leader: the newest committed
  // one, and any newer one appended on a disk or in a live core that can
  // still commit. No majority of any of them may lack a committed entry.
  // An entry can no longer commit when it sits at or below the highest
  // committed index (something else committed there, or it is committed and
  // so not newer), or when its term is below that committed entry's (a log
  // holding it could not also hold the committed one: terms never decrease).
  void check_durability_across_configurations() {
    // Not a structured binding: C++17 lambdas cannot capture those (clang).
    const auto latest = chk_.latest_committed_conf();
    const index_t conf_index = latest.first;
    const membership conf = conf_index == 0 ? membership::of_voters(cfg_.voters) : latest.second;
    const index_t max_commit = chk_.max_commit();
    const term_t commit_term = chk_.max_commit_term();
    auto may_commit = [&](index_t i, term_t t) { return i > conf_index && i > max_commit && t >= commit_term; };
    std::map<node_id, const durable_store*> disks;
    std::vector<std::vector<node_id>> configurations{conf.voters()};
    for (auto& n : nodes_) {
      disks[n->id] = &n->disk;
      for (const entry& e : n->disk.entries) {
        if (e.type != entry_type::config || !may_commit(e.index, e.term)) continue;
        if (auto c = decode_membership(e.data)) configurations.push_back(c->voters());
      }
      if (n->up && may_commit(n->c->conf_index(), n->c->term_at(n->c->conf_index()).value_or(0)))
        configurations.push_back(n->c->conf().voters());
    }
    for (const auto& voters : configurations) chk_.check_durability(disks, voters);
  }

  // The leader adds a spare as a learner, or removes a member (itself
  // included), keeping at least two voters so that faults still matter.
  void change_membership(sim_node& n) {
    const membership& conf = n.c->conf();
    membership next = conf;
    std::vector<node_id> spares;
    for (auto& s : nodes_)
      if (s->id > static_cast<node_id>(opts_.nodes) && !used_spares_.count(s->id)) spares.push_back(s->id);
    node_id who = no_node;
    bool add = !spares.empty() && below(2) == 0;
    if (add) {
      who = spares[below(spares.size())];
      // Odd spares come with a wire address, so that half the
      // configurations travel in membership encoding version 2.
      next.put(member{who, false, "", "", who % 2 ? "127.0.0.1:" + std::to_string(50060 + who) : ""});
    } else {
      const auto& ms = conf.members();
      if (ms.empty()) return;
      const member& m = ms[below(ms.size())];
      if (m.voter && conf.voter_count() <= 2) return;
      who = m.id;
      next.remove(who);
    }
    std::string why;
    auto r = n.c->propose_conf_change(next, &why);
    if (r.error == propose_error::none && add) used_spares_.insert(who);
    log("node %llu proposes %s node %llu: %s", ull(n.id), add ? "adding" : "removing", ull(who),
        r.error == propose_error::none ? ("index " + std::to_string(r.index)).c_str() : "refused");
    process(n);
  }

  static unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

  void chaos_action() {
    if (uniform() < 0.5) {
      for (auto& n : nodes_) {
        if (!n->up || n->c->state() != role::leader) continue;
        const int burst = 1 + static_cast<int>(below(4));
        for (int k = 0; k < burst; ++k) {
          std::string data = "s" + std::to_string(opts_.seed) + "-p" + std::to_string(proposals_++);
          auto r = n->c->propose(data);
          if (r.error == propose_error::none) log("node %llu proposes %s at %llu", ull(n->id), data.c_str(), ull(r.index));
        }
        process(*n);
      }
    }
    if (uniform() < 0.02) {
      if (below(2) == 0) {
        for (auto& g : group_) g = static_cast<int>(below(2));
      } else {
        for (auto& g : group_) g = 0;
        group_[below(group_.size())] = 1;
      }
      std::string desc;
      for (std::size_t i = 0; i < group_.size(); ++i) desc += std::to_string(i + 1) + ":" + std::to_string(group_[i]) + " ";
      log("partition %s", desc.c_str());
    } else if (uniform() < 0.04) {
      for (auto& g : group_) g = 0;
      log("heal partition");
    }
    if (uniform() < 0.012 + leader_crash_rate_) {
      // Leaders are the interesting victims (Figure 8 of the paper needs a
      // leader to die right after replicating to only part of the cluster).
      sim_node* victim = &node(1 + below(nodes_.size()));
      if (uniform() < 0.7) {
        for (auto& n : nodes_) {
          if (n->up && n->c->state() == role::leader) victim = n.get();
        }
      }
      sim_node& n = *victim;
      if (n.up) {
        n.crash_stage = static_cast<int>(below(6));
        if (n.crash_stage == 0) crash(n);
      }
    }
    if (uniform() < 0.03) {
      sim_node& n = node(1 + below(nodes_.size()));
      if (n.up && n.c->applied_index() >= n.c->first_index() + 3) {
        const index_t at = n.c->applied_index();
        snapshot s{snapshot_meta{at, *n.c->term_at(at), {}}, n.app.encode(below(100))};
        s.meta = n.c->compact(s);
        n.disk.compact(s);
        log("node %llu compacts through %llu", ull(n.id), ull(at));
      }
    }
    if (opts_.membership && uniform() < 0.02) {
      for (auto& n : nodes_) {
        if (n->up && n->c->state() == role::leader) {
          change_membership(*n);
          break;
        }
      }
    }
    for (auto& n : nodes_) {
      if (!n->up || n->c->state() != role::leader) continue;
      if (uniform() < 0.01) {
        node_id target = below(2) == 0 ? no_node : 1 + below(nodes_.size());
        bool ok = n->c->transfer_leadership(target);
        log("node %llu transfers leadership to %llu: %s", ull(n->id), ull(target), ok ? "started" : "refused");
        process(*n);
        if (!n->up || n->c->state() != role::leader) continue;
      }
      if (uniform() < 0.05) {
        std::string ctx = "r" + std::to_string(reads_issued_++);
        read_floor_[ctx] = chk_.max_commit();
        n->c->read_index(ctx);
        process(*n);
      }
    }
  }

  void heal_everything() {
    log("heal: network reliable, all nodes up");
    for (auto& g : group_) g = 0;
    drop_rate_ = 0;
    dup_rate_ = 0;
    // Healed means a well-behaved network: short delays, rare reordering.
    max_delay_ = std::min<std::int64_t>(max_delay_, tick_len / 2);
    for (auto& n : nodes_) {
      if (!n->up) restart(*n);
      n->crash_stage = 0;
    }
  }

  // ---- network -------------------------------------------------------------

  void send(const message& m) {
    ++res_.messages;
    if (uniform() < drop_rate_) return;
    const int copies = uniform() < dup_rate_ ? 2 : 1;
    for (int k = 0; k < copies; ++k) {
      queue_.push(in_flight{now_ + 1 + static_cast<std::int64_t>(below(max_delay_)), seq_++, m});
    }
  }

  void deliver(const message& m) {
    if (m.to == 0 || m.to > nodes_.size()) throw safety_violation("message to unknown node " + std::to_string(m.to));
    sim_node& n = node(m.to);
    if (!n.up || group_[m.from - 1] != group_[m.to - 1]) return;
    if (opts_.trace_messages) {
      log("deliver %s %llu->%llu term %llu index %llu log_term %llu entries %zu commit %llu reject %d hint %llu ctx '%s'",
          to_string(m.type), ull(m.from), ull(m.to), ull(m.term), ull(m.index), ull(m.log_term), m.entries.size(),
          ull(m.commit), m.reject, ull(m.reject_hint), m.context.c_str());
    }
    n.c->step(m);
    process(n);
  }

  // ---- driving the cores ---------------------------------------------------

  // raft_node's drive(): take a ready only when none is in flight, persist
  // it (log_store's writes, in opts_.order), then send (a leader sends
  // first), apply, advance.
  void process(sim_node& n) {
    ++res_.events;
    for (int guard = 0; guard < 64; ++guard) {
      if (!n.in_flight) {
        if (!n.c->has_ready()) break;
        ready r = n.c->take_ready();
        chk_.on_ready_entries(*n.c, r.entries);
        if (r.messages_before_persist && opts_.leader_sends_first) {
          // A leader's messages go out while it persists (raft_node does the
          // same): stage 1 then crashes a leader whose followers may already
          // hold entries it never wrote.
          for (const message& m : r.messages) send(m);
          r.messages.clear();
        }
        if (n.crash_stage == 1) return crash(n);
        n.in_flight = std::move(r);
        n.persisted_at = now_ + (persist_delay_ == 0 ? 0 : static_cast<std::int64_t>(below(persist_delay_ + 1)));
      }
      if (n.persisted_at > now_) break;
      if (!finish_ready(n)) return;  // crashed
    }
    const role before = last_role_[n.id];
    chk_.on_node_state(*n.c);
    if (opts_.verbose && n.c->conf_index() != last_conf_[n.id]) {
      last_conf_[n.id] = n.c->conf_index();
      std::string members;
      for (const auto& m : n.c->conf().members()) members += " " + std::to_string(m.id) + (m.voter ? "" : "(learner)");
      log("node %llu configuration at index %llu:%s%s", ull(n.id), ull(n.c->conf_index()), members.c_str(),
          n.c->conf_change_pending() ? " (pending)" : "");
    }
    if (n.c->state() != before) {
      log("node %llu is %s in term %llu (last %llu, commit %llu)", ull(n.id), to_string(n.c->state()),
          ull(n.c->term()), ull(n.c->last_index()), ull(n.c->commit_index()));
      last_role_[n.id] = n.c->state();
    }
  }

  // log_store answered for the ready in flight: false if the node crashed.
  bool finish_ready(sim_node& n) {
    const ready& r = *n.in_flight;
    const std::vector<disk_write> writes = n.disk.log_store_writes(r, opts_.order);
    for (std::size_t k = 0; k < writes.size(); ++k) {
      // A crash between two writes of one ready: each is fsynced on its own.
      // (armed by chaos_action, or a power loss that strikes this very ready).
      if (k > 0 && (n.crash_stage == static_cast<int>(1 + k) || (chaos_ && uniform() < torn_ready_rate))) {
        crash(n);
        return false;
      }
      n.disk.write(writes[k], r);
    }
    if (n.crash_stage == 4) {
      crash(n);
      return false;
    }
    for (const message& m : r.messages) send(m);
    if (r.snapshot) {
      n.app = app_state::decode(std::string(r.snapshot->data.view()));
      if (n.app.index != r.snapshot->meta.index) {
        throw safety_violation("snapshot at index " + std::to_string(r.snapshot->meta.index) +
                               " carries state of index " + std::to_string(n.app.index));
      }
      chk_.on_snapshot_install(n.id, n.app.index, n.app.hash);
      ++res_.snapshots_installed;
      log("node %llu installs snapshot at %llu", ull(n.id), ull(n.app.index));
    }
    for (const entry& e : r.committed) {
      if (e.index != n.app.index + 1) {
        throw safety_violation("node " + std::to_string(n.id) + " asked to apply index " + std::to_string(e.index) +
                               " after " + std::to_string(n.app.index));
      }
      n.app.apply(e);
      chk_.on_apply(n.id, e, n.app.hash);
    }
    for (const read_state& rs : r.read_states) {
      auto it = read_floor_.find(rs.context);
      if (it == read_floor_.end()) throw safety_violation("read_state for unknown context '" + rs.context + "'");
      chk_.on_read_state(n.id, rs.index, it->second);
      read_floor_.erase(it);
    }
    if (n.crash_stage == 5) {
      crash(n);
      return false;
    }
    n.c->advance(r);
    n.in_flight.reset();
    return true;
  }

  void step_time(bool chaos) {
    while (!queue_.empty() && queue_.top().at <= now_) {
      message m = queue_.top().m;
      queue_.pop();
      deliver(m);
    }
    for (auto& n : nodes_) {
      if (!n->up) {
        if (n->restart_at <= now_) restart(*n);
        continue;
      }
      if (n->in_flight && n->persisted_at <= now_) process(*n);
      if (!n->up) continue;
      if ((now_ + n->tick_phase) % tick_len == 0) {
        // raft_node sleeps through the ticks core::ticks_until_due says only
        // count: check that such a tick really does nothing else.
        const int due = n->c->ticks_until_due();
        const bool had_ready = n->c->has_ready();
        const auto role_before = n->c->state();
        const auto term_before = n->c->term();
        n->c->tick();
        if (due > 1 && (n->c->state() != role_before || n->c->term() != term_before ||
                        (!had_ready && n->c->has_ready())))
          throw safety_violation("node " + std::to_string(n->id) + " acted on a tick with " + std::to_string(due) +
                                 " ticks still to go (core::ticks_until_due)");
        process(*n);
      }
    }
    if (chaos && now_ % tick_len == 0) chaos_action();
  }

  // ---- liveness ------------------------------------------------------------

  node_id stable_leader() {
    node_id lead = no_node;
    term_t term = 0;
    for (auto& n : nodes_) {
      if (!n->up) return no_node;
      if (n->c->state() == role::leader) {
        if (lead != no_node) return no_node;
        lead = n->id;
        term = n->c->term();
      }
    }
    if (lead == no_node) return no_node;
    // A pending configuration change may still remove the leader (it then
    // steps down once the change commits): not stable until it committed.
    if (opts_.membership && (node(lead).c->conf_change_pending() || !node(lead).c->conf().is_voter(lead)))
      return no_node;
    for (auto& n : nodes_) {
      if (!in_final_conf(*n, lead)) continue;
      if (n->c->leader() != lead || n->c->term() != term) return no_node;
    }
    return lead;
  }

  // Who must follow the leader and apply everything at the end: every
  // server, or with configuration changes the members of the leader's
  // configuration (removed servers and unused spares are left alone).
  bool in_final_conf(const sim_node& n, node_id lead) {
    return !opts_.membership || node(lead).c->conf().contains(n.id);
  }

  void await_leader_and_commit() {
    std::int64_t settle_ticks = opts_.settle_ticks;
    if (opts_.membership) {
      // Stable also means no configuration change pending, so the leader
      // must first bring a majority up to date: allow for the backlog, as
      // the commit bound below does.
      index_t hi = 0, lo = ~index_t{0};
      for (auto& n : nodes_) {
        hi = std::max(hi, n->c->last_index());
        lo = std::min(lo, n->c->applied_index());
      }
      const std::uint64_t per_round = cfg_.max_entries_per_append * cfg_.max_inflight_appends;
      settle_ticks += static_cast<std::int64_t>((hi - lo + per_round - 1) / per_round) *
                      (2 * (max_delay_ + persist_delay_) / tick_len + 2);
    }
    const std::int64_t settle_end = now_ + settle_ticks * tick_len;
    // Stable means: the same leader for two election timeouts, so that a
    // leadership transfer started during the chaos phase has played out.
    node_id lead = no_node;
    std::int64_t stable_since = now_;
    const std::int64_t stable_for = 2 * cfg_.election_tick * tick_len;
    while (now_ < settle_end) {
      const node_id l = stable_leader();
      if (l != lead) {
        lead = l;
        stable_since = now_;
      }
      if (lead != no_node && now_ - stable_since >= stable_for) break;
      ++now_;
      step_time(false);
    }
    if (now_ - stable_since < stable_for) lead = no_node;
    if (lead == no_node) {
      throw safety_violation("Liveness: no stable leader within " + std::to_string(settle_ticks) +
                             " ticks after healing");
    }
    log("stable leader %llu in term %llu", ull(lead), ull(node(lead).c->term()));
    node(lead).c->abort_transfer();
    std::vector<std::pair<index_t, std::string>> wanted;
    for (int k = 0; k < opts_.final_proposals; ++k) {
      std::string data = "final-" + std::to_string(k);
      auto r = node(lead).c->propose(data);
      if (r.error != propose_error::none) throw safety_violation("Liveness: stable leader refused a proposal");
      wanted.emplace_back(r.index, data);
    }
    process(node(lead));
    const index_t target = wanted.back().first;
    // The bound grows with the backlog the chaos phase left behind: each round
    // trip moves at most batch * inflight entries to a follower.
    index_t lowest = target;
    for (auto& n : nodes_)
      if (in_final_conf(*n, lead)) lowest = std::min(lowest, n->c->applied_index());
    const std::uint64_t per_round = cfg_.max_entries_per_append * cfg_.max_inflight_appends;
    const std::int64_t rounds = static_cast<std::int64_t>((target - lowest + per_round - 1) / per_round);
    const std::int64_t bound_ticks = opts_.commit_ticks + rounds * (2 * (max_delay_ + persist_delay_) / tick_len + 2);
    const std::int64_t commit_end = now_ + bound_ticks * tick_len;
    auto all_applied = [&] {
      for (auto& n : nodes_) {
        if (in_final_conf(*n, lead) && n->c->applied_index() < target) return false;
      }
      return true;
    };
    while (now_ < commit_end && !all_applied()) {
      ++now_;
      step_time(false);
    }
    if (!all_applied()) {
      std::string where;
      for (auto& n : nodes_)
        if (in_final_conf(*n, lead)) where += " n" + std::to_string(n->id) + "=" + std::to_string(n->c->applied_index());
      where += "; leader " + std::to_string(lead) + " progress:";
      for (auto& p : node(lead).c->progress()) {
        where += " n" + std::to_string(p.id) + "{match " + std::to_string(p.match) + " next " + std::to_string(p.next) +
                 " state " + std::to_string(static_cast<int>(p.state)) + " inflight " + std::to_string(p.inflight) + "}";
      }
      throw safety_violation("Liveness: proposals through index " + std::to_string(target) + " not applied on every node within " +
                             std::to_string(bound_ticks) + " ticks (applied:" + where + ")");
    }
    for (auto& [idx, data] : wanted) {
      // Every node applied past idx; the committed entry there must be ours.
      for (auto& n : nodes_) {
        if (!in_final_conf(*n, lead)) continue;
        auto got = n->c->entries(idx, idx + 1);
        if (!got.empty() && got.front().data != data) {
          throw safety_violation("Liveness: proposal '" + data + "' at index " + std::to_string(idx) +
                                 " was replaced by '" + got.front().data + "' although the leader stayed stable");
        }
      }
    }
    const std::uint64_t h = chk_.hash_at(target);
    for (auto& n : nodes_) {
      if (n->app.index == target && n->app.hash != h) throw safety_violation("final states differ");
    }
    check_durability();
  }

  sim_options opts_;
  choice_source rng_;
  checker chk_;
  sim_result res_;
  config cfg_;
  double drop_rate_ = 0, dup_rate_ = 0, leader_crash_rate_ = 0;
  std::int64_t max_delay_ = 1;
  std::int64_t persist_delay_ = 0;
  bool chaos_ = true;  // log_store's time for one ready, at most
  std::int64_t now_ = 0;
  std::vector<std::unique_ptr<sim_node>> nodes_;
  std::vector<int> group_;
  std::priority_queue<in_flight, std::vector<in_flight>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
  std::uint64_t proposals_ = 0;
  std::uint64_t reads_issued_ = 0;
  std::map<std::string, index_t> read_floor_;
  std::map<node_id, role> last_role_;
  std::map<node_id, index_t> last_conf_;  // verbose: the configuration index last logged
  std::set<node_id> used_spares_;  // spares proposed once; ids are never reused
  static constexpr int spare_nodes = 2;
};

}  // namespace

sim_result run_simulation(const sim_options& opts) {
  if (opts.nodes < 1 || opts.nodes > 9) {
    sim_result r;
    r.ok = false;
    r.failure = "nodes must be between 1 and 9, got " + std::to_string(opts.nodes);
    return r;
  }
  return simulation(opts).run();
}

}  // namespace troupe::raft::sim
