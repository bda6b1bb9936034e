// raft_sim: runs the deterministic Raft simulation over many seeds.
//   raft_sim --seeds 2000 --nodes 3            seeds 1..2000
//   raft_sim --seed-start 500 --seed-count 100 --nodes 5
//   raft_sim --seed 1234 --nodes 5 --verbose   replay one seed with a trace
//   raft_sim --write-order hard-state-first    log_store's order before issue 10 (fails
//                                              with --persist-then-send)
//   raft_sim --persist-then-send               every node persists, then sends (the
//                                              driver before issue 12)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/raft/sim/simulation.hpp"

namespace {

bool parse_u64(const char* s, std::uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  out = v;
  return true;
}

int usage(const char* prog, const std::string& why) {
  std::fprintf(stderr, "%s: %s\nusage: %s [--seeds N | --seed S | --seed-start S --seed-count N] [--nodes N] [--write-order entries-first|hard-state-first] [--persist-then-send] [--membership] [--verbose] [--trace]\n",
               prog, why.c_str(), prog);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t start = 1, count = 100, nodes = 3;
  bool verbose = false, trace = false, leader_sends_first = true, members = false;
  auto order = troupe::raft::sim::write_order::entries_first;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::uint64_t& out) {
      if (i + 1 >= argc) return false;
      return parse_u64(argv[++i], out);
    };
    if (a == "--seeds") {
      if (!value(count)) return usage(argv[0], "--seeds needs a number");
      start = 1;
    } else if (a == "--seed") {
      if (!value(start)) return usage(argv[0], "--seed needs a number");
      count = 1;
    } else if (a == "--seed-start") {
      if (!value(start)) return usage(argv[0], "--seed-start needs a number");
    } else if (a == "--seed-count") {
      if (!value(count)) return usage(argv[0], "--seed-count needs a number");
    } else if (a == "--nodes") {
      if (!value(nodes) || nodes < 1 || nodes > 9) return usage(argv[0], "--nodes needs a number in 1..9");
    } else if (a == "--write-order") {
      const std::string v = i + 1 < argc ? argv[++i] : "";
      if (v == "entries-first")
        order = troupe::raft::sim::write_order::entries_first;
      else if (v == "hard-state-first")
        order = troupe::raft::sim::write_order::hard_state_first;
      else
        return usage(argv[0], "--write-order needs entries-first or hard-state-first");
    } else if (a == "--persist-then-send") {
      leader_sends_first = false;
    } else if (a == "--membership") {
      members = true;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--trace") {
      verbose = trace = true;
    } else {
      return usage(argv[0], "unknown argument '" + a + "'");
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t failures = 0, committed = 0, messages = 0, crashes = 0, snaps = 0, leaders = 0, confs = 0;
  for (std::uint64_t seed = start; seed < start + count; ++seed) {
    troupe::raft::sim::sim_options o;
    o.seed = seed;
    o.nodes = static_cast<int>(nodes);
    o.verbose = verbose;
    o.trace_messages = trace;
    o.order = order;
    o.leader_sends_first = leader_sends_first;
    o.membership = members;
    auto r = troupe::raft::sim::run_simulation(o);
    committed += r.committed;
    messages += r.messages;
    crashes += r.crashes;
    snaps += r.snapshots_installed;
    leaders += r.leaders;
    confs += r.conf_changes;
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed %llu (%llu nodes): %s\n  replay: %s --seed %llu --nodes %llu%s%s%s --verbose\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(nodes), r.failure.c_str(),
                  argv[0], static_cast<unsigned long long>(seed), static_cast<unsigned long long>(nodes),
                  order == troupe::raft::sim::write_order::entries_first ? "" : " --write-order hard-state-first",
                  leader_sends_first ? "" : " --persist-then-send", members ? " --membership" : "");
      if (failures >= 5) break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("raft_sim: %llu seeds from %llu, %llu nodes: %llu failed; %llu entries committed, %llu leaders, "
              "%llu messages, %llu crashes, %llu snapshots installed, %llu configuration changes; %.2fs\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(start),
              static_cast<unsigned long long>(nodes), static_cast<unsigned long long>(failures),
              static_cast<unsigned long long>(committed), static_cast<unsigned long long>(leaders),
              static_cast<unsigned long long>(messages), static_cast<unsigned long long>(crashes),
              static_cast<unsigned long long>(snaps), static_cast<unsigned long long>(confs), secs);
  return failures == 0 ? 0 : 1;
}
