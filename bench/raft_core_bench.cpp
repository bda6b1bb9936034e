// Proposals per second through a 3-node cluster of pure Raft cores with an
// in-memory, instantly delivering network and no disk: the cost of the
// consensus logic itself. A "batch" is the number of proposals made before
// the leader's ready is drained, i.e. how many ride in one append.
//   bench_raft_core [total_proposals]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/raft/core.hpp"

using namespace troupe::raft;

namespace {

struct cluster {
  std::vector<std::unique_ptr<core>> nodes;
  std::vector<std::unique_ptr<std::mt19937_64>> rngs;
  std::deque<message> net;
  std::uint64_t applied_on_leader = 0;

  cluster() {
    for (node_id id = 1; id <= 3; ++id) {
      config k;
      k.id = id;
      k.voters = {1, 2, 3};
      rngs.push_back(std::make_unique<std::mt19937_64>(id));
      auto* r = rngs.back().get();
      nodes.push_back(std::make_unique<core>(k, [r] { return (*r)(); }));
    }
  }
  void drain(core& c) {
    while (c.has_ready()) {
      ready r = c.take_ready();
      for (auto& m : r.messages) net.push_back(std::move(m));
      if (c.id() == 1) applied_on_leader += r.committed.size();
      c.advance(r);
    }
  }
  void pump() {
    while (!net.empty()) {
      message m = std::move(net.front());
      net.pop_front();
      core& c = *nodes[m.to - 1];
      c.step(m);
      drain(c);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t total = 200000;
  if (argc > 1) {
    char* end = nullptr;
    total = std::strtoull(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || total == 0) {
      std::fprintf(stderr, "usage: %s [total_proposals > 0], got '%s'\n", argv[0], argv[1]);
      return 2;
    }
  }
  const std::string payload(64, 'x');
  std::printf("3-node in-memory cluster, %llu proposals of %zu bytes each\n",
              static_cast<unsigned long long>(total), payload.size());
  for (std::uint64_t batch : {1ull, 16ull, 256ull}) {
    cluster c;
    core& lead = *c.nodes[0];
    for (int i = 0; i < 40 && lead.state() != role::leader; ++i) {
      lead.tick();
      c.drain(lead);
      c.pump();
    }
    if (lead.state() != role::leader) {
      std::fprintf(stderr, "node 1 failed to become leader\n");
      return 1;
    }
    const std::uint64_t base = c.applied_on_leader;
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t proposed = 0;
    while (proposed < total) {
      for (std::uint64_t k = 0; k < batch && proposed < total; ++k, ++proposed) lead.propose(payload);
      c.drain(lead);
      c.pump();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::uint64_t committed = c.applied_on_leader - base;
    if (committed != total) {
      std::fprintf(stderr, "batch %llu: only %llu of %llu proposals committed\n", static_cast<unsigned long long>(batch),
                   static_cast<unsigned long long>(committed), static_cast<unsigned long long>(total));
      return 1;
    }
    std::printf("batch %4llu: %10.0f proposals/s committed (%.3fs)\n", static_cast<unsigned long long>(batch),
                static_cast<double>(total) / secs, secs);
  }
  return 0;
}
