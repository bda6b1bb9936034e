// The seeded nemesis: one fault at a time, drawn from the seed (kind, hold
// time, pause after, which node), applied to the real processes, the proxy
// and the cluster's membership, then healed. The same seed gives the same schedule; which node is the
// leader at that moment is up to the cluster.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "membership.grpc.pb.h"
#include "scheduler.grpc.pb.h"
#include "tests/chaos/history.hpp"
#include "tests/chaos/proxy.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::chaos {

// A size-limited tmpfs under each node's data dir, so one node's disk can be
// filled for real. Mounting needs root (CAP_SYS_ADMIN); without it the
// disk-full fault is skipped and says why. Unmounted (lazily) on destruction.
class data_disks {
 public:
  data_disks(integration::cluster& c, std::size_t size_mib);
  ~data_disks();
  data_disks(const data_disks&) = delete;
  data_disks& operator=(const data_disks&) = delete;

  bool available() const { return mounted_.size() > 0 && why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  // Writes a filler file until the node's disk is full; returns the bytes written.
  std::uint64_t fill(std::uint64_t node);
  void free(std::uint64_t node);

 private:
  integration::cluster& c_;
  std::vector<std::string> mounted_;
  std::string why_not_;
};

// A kill -9 of the node that led. It measures failover only when the rest
// of the cluster was healthy at that moment (`impaired` empty): every other
// node running, not paused, its disk not filled since its start (a node whose
// disk filled may fail-stop any moment), and answering from its own state
// that it follows the victim.
struct leader_kill {
  steady::time_point at;
  std::uint64_t victim = 0;
  std::string impaired;  // why the rest of the cluster was not healthy; empty when it was
  std::size_t fault = 0;  // its index in fault_starts()
};

class nemesis {
 public:
  // Every fault of `proxies` (gRPC's, and the raft wire's) is applied to all.
  nemesis(std::uint64_t seed, integration::cluster& c, std::vector<fault_proxy*> proxies, data_disks& d,
          steady::time_point t0);

  // Runs faults until `until` (each fault's hold time is cut short there).
  void run(steady::time_point until);
  // Ends every fault: links pass, paused nodes continue, disks freed, every
  // node that is down (killed, or exited by itself) started again, every
  // node a replace fault removed added back (bounded; see add_back_removed),
  // every drained node undrained.
  void heal_all();
  long faults() const { return faults_; }
  long node_crashes() const { return crashes_; }
  const std::vector<leader_kill>& leader_kills() const { return leader_kills_; }
  // When each fault began, in order.
  const std::vector<steady::time_point>& fault_starts() const { return fault_starts_; }
  double seconds_since_start(steady::time_point t) const { return std::chrono::duration<double>(t - t0_).count(); }
  std::uint64_t leader();  // the node that says it leads, 0 if none answers
  // Starts every node that exited by itself (a disk-full fail-stop may end
  // seconds after the disk was freed, also after the last heal_all).
  void restart_exited();

 private:
  void log(const std::string& what) const;
  void sleep_until(steady::time_point t) const;
  std::uint64_t pick(const std::vector<std::uint64_t>& from);
  std::vector<std::uint64_t> followers(std::uint64_t leader) const;
  void start(std::uint64_t id);
  // One AddMember (the node's own addresses) or RemoveMember of `id` at
  // whoever leads, again while the answer says to retry (not the leader, a
  // change on its way, no commit in time), until `until`. An answer that
  // says it is done already (a retry after a late commit) counts as OK.
  grpc::Status change_member(bool add, std::uint64_t id, steady::time_point until);
  // Every node missing from the leader's committed configuration (removed by
  // a replace fault, or by a removal answered late that committed after all)
  // is stopped, wiped, added back and started with --join.
  void add_back_removed();
  // UndrainNode at every node a drain fault drained, retried (bounded) until
  // it answers OK; one that does not stays marked for the next heal.
  void undrain_drained();

  std::mt19937_64 rng_;
  integration::cluster& c_;
  std::vector<fault_proxy*> proxies_;
  data_disks& disks_;
  steady::time_point t0_;
  std::vector<std::unique_ptr<scheduler::SchedulerService::Stub>> stubs_;
  std::vector<std::unique_ptr<membership::MembershipService::Stub>> member_stubs_;  // AddMember, RemoveMember
  std::vector<bool> paused_, killed_, filled_;
  // The node's data dir was wiped: every later start passes --join (a node
  // holding a configuration ignores it), so it never boots its seed list.
  std::vector<bool> joining_;
  // A drain fault asked this node to drain (answered or not): the heal undrains it.
  std::vector<bool> drained_;
  bool membership_changed_ = false;  // a replace fault ran since the configuration was last whole
  // The disk of this start of the node was full once: its fail-stop exit,
  // which may come seconds after the disk is freed, is expected.
  std::vector<bool> filled_since_start_;
  std::string impairment(std::uint64_t leader);
  std::vector<leader_kill> leader_kills_;
  std::vector<steady::time_point> fault_starts_;
  long faults_ = 0;
  long crashes_ = 0;
};

}  // namespace troupe::chaos
