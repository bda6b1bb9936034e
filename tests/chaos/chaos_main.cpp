// chaos_test: N real troupe-node processes, peer traffic through a
// fault-injecting proxy, client threads, a seeded nemesis, then a checker.
//   chaos_test [--nodes N] [--seeds 1,2,3 | --seed S] [--duration-s D] [--clients K]
//              [--settle-s S] [--self-check drop|flip|wipe] [--tls]
// Per seed: start the cluster, run clients and faults for D seconds, heal
// (all nodes up, no partitions), stop the clients, wait (at most S seconds)
// until every job is terminal and the reads stop changing, then print one
// verdict line and an availability line. Exit 0 iff every seed passed.
// --self-check applies one deliberate corruption after a fault-free run and
// must make the verdict FAIL: it proves the checker can fail.
// --tls gives the nodes [tls] (certificates from scripts/make-certs.sh):
// gRPC, REST and the raft wire then all run over TLS, through the same
// proxies, and the clients, nemesis and checker trust the cluster CA.
#include <signal.h>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "protocol/grpc_status_names.hpp"
#include "tests/chaos/checker.hpp"
#include "tests/chaos/clients.hpp"
#include "tests/chaos/nemesis.hpp"
#include "tests/chaos/proxy.hpp"
#include "tests/integration/client.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::integration {
// cluster.hpp's hooks: a cluster prints its nodes' logs and keeps its
// directory when it is destroyed after a failure was counted here.
namespace {
std::atomic<std::size_t> failures{0};
}
std::size_t failed_assertions() { return failures.load(); }
void note_skipped_test() {}
}  // namespace troupe::integration

namespace troupe::chaos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct options {
  std::size_t nodes = 3;
  std::vector<std::uint64_t> seeds{1};
  double duration_s = 30;
  std::size_t clients = 3;
  double settle_s = 60;
  std::string self_check;  // "", "drop", "flip", "wipe"
  bool tls = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "chaos_test: " << problem << "\n"
            << "usage: chaos_test [--nodes N] [--seeds 1,2,3 | --seed S] [--duration-s D] [--clients K]\n"
               "                  [--settle-s S] [--self-check drop|flip|wipe] [--tls]\n";
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--nodes") o.nodes = std::stoul(value());
      else if (a == "--seed") o.seeds = {std::stoull(value())};
      else if (a == "--seeds") {
        o.seeds.clear();
        std::stringstream s(value());
        for (std::string part; std::getline(s, part, ',');) o.seeds.push_back(std::stoull(part));
      } else if (a == "--duration-s") o.duration_s = std::stod(value());
      else if (a == "--clients") o.clients = std::stoul(value());
      else if (a == "--settle-s") o.settle_s = std::stod(value());
      else if (a == "--self-check") o.self_check = value();
      else if (a == "--tls") o.tls = true;
      else usage("unknown argument " + a);
    } catch (const std::invalid_argument&) {
      usage("bad value for " + a);
    }
  }
  if (o.nodes < 3 || o.nodes > 9) usage("--nodes must be 3..9");
  if (o.seeds.empty()) usage("no seeds");
  if (o.duration_s <= 0 || o.duration_s > 24 * 3600 || o.settle_s <= 0 || o.settle_s > 3600) usage("bad duration");
  if (o.clients == 0 || o.clients > 64) usage("--clients must be 1..64");
  if (!o.self_check.empty() && o.self_check != "drop" && o.self_check != "flip" && o.self_check != "wipe")
    usage("--self-check takes drop, flip or wipe");
  return o;
}

std::string num(double d) {
  std::ostringstream s;
  s << d;
  return s.str();
}

void say(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

read_options addresses(const integration::cluster& c) {
  read_options r;
  for (auto id : c.ids()) {
    r.grpc_addresses.push_back(c.grpc_address(id));
    r.http_addresses.push_back(c.http_address(id));
  }
  r.ca_file = c.client().ca_file;
  return r;
}

// Node certificates for ids 1..n and their CA, in a directory of their own
// removed afterwards.
struct certificates {
  std::string dir;
  explicit certificates(std::size_t n) {
    char tmpl[] = "/tmp/troupe-chaos-tls-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir = tmpl;
    std::vector<std::string> args{dir};
    for (std::size_t id = 1; id <= n; ++id) args.push_back(std::to_string(id));
    integration::make_certs(args);
  }
  ~certificates() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Reads until every job is terminal in every view and two reads in a row are
// the same (the cluster stopped changing), or `limit` passes; returns the last read.
std::vector<view> settle(const integration::cluster& c, const history& h, const std::string& runs_file,
                         seconds limit, const std::function<void()>& each_round = [] {}) {
  auto until = steady::now() + limit;
  std::vector<view> prev, cur;
  for (int round = 0; round < 10000; ++round) {
    each_round();
    cur = read_views(addresses(c));
    auto v = judge(cur, h.submits(), h.cancels(), read_runs(runs_file));
    if (v.unreadable_views == 0 && v.settled() && same_reads(prev, cur)) break;
    if (steady::now() >= until) {
      say("chaos: settle wait of " + std::to_string(limit.count()) + " s is over; judging the last read");
      break;
    }
    prev = std::move(cur);
    std::this_thread::sleep_for(seconds(2));
  }
  return cur;
}

// Self-check corruptions of the reads (drop, flip); false when there was
// nothing to corrupt, which makes the self-check fail for the wrong reason.
bool corrupt(const std::string& mode, std::vector<view>& views, const history& h) {
  if (mode == "drop") {
    for (const auto& s : h.submits())
      if (s.result == outcome::ok && views.front().jobs.erase(s.job_id)) {
        say("chaos self-check: dropped acknowledged job " + s.job_id + " from " + views.front().name);
        return true;
      }
  } else if (mode == "flip") {
    for (auto& [id, r] : views.back().jobs)
      if (r.terminal()) {
        auto was = r.status;
        r.status = r.status == "completed" ? "failed" : "completed";
        say("chaos self-check: flipped job " + id + " from " + was + " to " + r.status + " in " + views.back().name);
        return true;
      }
  }
  return false;
}

// Self-check "wipe": kill a follower, delete everything in its data dir and
// start it again cut off from its peers (through the proxy), so it cannot
// catch up from the leader and answers from its empty table.
void wipe_follower(integration::cluster& c, fault_proxy& proxy, fault_proxy& wire_proxy) {
  auto leader = c.wait_for_leader(milliseconds(30000));
  auto victim = c.some_follower(leader);
  c.kill9(victim);
  auto removed = c.wipe_data_dir(victim);
  proxy.set_node_mode(victim, link_mode::cut);
  wire_proxy.set_node_mode(victim, link_mode::cut);
  c.start(victim);
  say("chaos self-check: wiped node " + std::to_string(victim) + "'s data dir (" + std::to_string(removed) +
      " files) and restarted it isolated");
  const std::string& ca = c.client().ca_file;
  integration::wait_until(milliseconds(15000), [&] {
    return integration::http("GET", (ca.empty() ? "http://" : "https://") + c.http_address(victim) + "/health/live",
                             "", milliseconds(1000), ca)
               .code == 200;
  });
}

bool run_seed(const options& o, std::uint64_t seed) {
  say("chaos: seed " + std::to_string(seed) + ", " + std::to_string(o.nodes) + " nodes, " +
      num(o.duration_s) + " s" + (o.self_check.empty() ? " of faults" : " without faults (self-check " + o.self_check + ")") +
      ", " + std::to_string(o.clients) + " client threads; replay: chaos_test --nodes " + std::to_string(o.nodes) +
      " --seed " + std::to_string(seed) + " --duration-s " + num(o.duration_s) + (o.tls ? " --tls" : ""));
  fault_proxy proxy(o.nodes), wire_proxy(o.nodes);  // gRPC's links, the raft wire's
  integration::cluster_options co;
  co.nodes = o.nodes;
  co.snapshot_every = 1000;  // snapshots and InstallSnapshot happen during the run
  co.peer_address = [&proxy](std::uint64_t from, std::uint64_t to) { return proxy.address(from, to); };
  co.peer_wire_address = [&wire_proxy](std::uint64_t from, std::uint64_t to) { return wire_proxy.address(from, to); };
  std::optional<certificates> certs;
  if (o.tls) {
    certs.emplace(o.nodes);
    co.tls_dir = certs->dir;
    co.client.ca_file = certs->dir + "/ca.crt";
  }
  integration::cluster c(co);
  for (auto id : c.ids()) {
    proxy.set_destination(id, c.grpc_address(id));
    if (!c.wire_address(id).empty()) wire_proxy.set_destination(id, c.wire_address(id));
  }
  proxy.start();
  wire_proxy.start();
  data_disks disks(c, 256);  // destroyed (unmounted) before the cluster removes its directory
  if (!disks.available()) say("chaos: " + disks.why_not());
  say("chaos: cluster in " + c.dir());
  c.start_all();
  // With TLS, no call before every node listens (cluster::wait_serving).
  if (o.tls) c.wait_serving(c.ids(), milliseconds(20000));
  if (c.wait_for_leader(milliseconds(30000)) == 0) {
    say("chaos verdict: FAIL seed=" + std::to_string(seed) + " nodes=" + std::to_string(o.nodes) + " no leader at start");
    ++integration::failures;
    return false;
  }

  history h;
  client_options cop;
  for (auto id : c.ids()) cop.node_addresses.push_back(c.grpc_address(id));
  cop.security = c.client();
  cop.seed = seed;
  cop.threads = o.clients;
  cop.run_tag = "s" + std::to_string(seed);
  cop.runs_file = c.dir() + "/job-runs.txt";
  clients cl(cop, h);
  auto t0 = steady::now();
  auto until = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o.duration_s));
  nemesis nm(seed, c, {&proxy, &wire_proxy}, disks, t0);
  cl.start();
  if (o.self_check.empty()) nm.run(until);
  else std::this_thread::sleep_for(until - steady::now());
  nm.heal_all();
  auto faults_end = steady::now();
  cl.stop();
  say("chaos: healed, clients stopped; waiting for every job to end (at most " + num(o.settle_s) + " s)");
  bool agreed = false;
  for (int i = 0; i < 30 && !agreed; ++i) {
    nm.restart_exited();
    agreed = c.wait_for_leader(milliseconds(1000)) != 0;
  }
  if (!agreed) say("chaos: no agreed leader 30 s after healing");

  auto views = settle(c, h, cop.runs_file, seconds(static_cast<long>(o.settle_s)), [&] { nm.restart_exited(); });
  auto v = judge(views, h.submits(), h.cancels(), read_runs(cop.runs_file));
  if (!o.self_check.empty()) {
    say("chaos self-check baseline: " + v.line(seed, o.nodes));
    if (o.self_check == "wipe") {
      wipe_follower(c, proxy, wire_proxy);
      views = settle(c, h, cop.runs_file, seconds(20));
    } else if (!corrupt(o.self_check, views, h)) {
      say("chaos self-check: nothing to corrupt (no acknowledged or terminal job); self-check not done");
      ++integration::failures;
      return false;
    }
    v = judge(views, h.submits(), h.cancels(), read_runs(cop.runs_file));
  }
  v.faults = nm.faults();
  v.node_crashes = nm.node_crashes();
  for (const auto& d : v.details) say("  " + d);
  say(v.line(seed, o.nodes));
  std::ostringstream a;
  auto gap = h.longest_gap(t0, faults_end);
  a << "chaos availability: seed=" << seed << " nodes=" << o.nodes
    << " longest_without_ack_ms=" << gap.length.count() << " (from " << std::fixed << std::setprecision(2)
    << nm.seconds_since_start(gap.start) << "s)";
  // Failover as clients see it: from a kill -9 of the leader to the next
  // acknowledged submit. A kill counts only when the rest of the cluster was
  // healthy then, and only if no other fault began before that ack (else
  // the wait measures the next fault too); each kill is listed with why.
  std::vector<std::chrono::milliseconds> samples;
  long never = 0;
  for (const auto& k : nm.leader_kills()) {
    auto d = h.first_ack_after(k.at);
    std::ostringstream line;
    line << "chaos leader kill at " << std::fixed << std::setprecision(2) << nm.seconds_since_start(k.at)
         << "s (node " << k.victim << "): ";
    if (d) line << "next ack after " << d->count() << " ms";
    else line << "no ack afterwards";
    // The fault after this kill's own (which is recorded as it is logged).
    const auto& starts = nm.fault_starts();
    const bool has_next = k.fault + 1 < starts.size();
    if (!k.impaired.empty()) {
      line << "; not a failover sample: " << k.impaired;
    } else if (has_next && (!d || k.at + *d > starts[k.fault + 1])) {
      line << "; not a failover sample: the next fault began "
           << std::chrono::duration_cast<std::chrono::milliseconds>(starts[k.fault + 1] - k.at).count()
           << " ms after the kill";
    } else if (d) {
      samples.push_back(*d);
    } else {
      ++never;
    }
    say(line.str());
  }
  std::sort(samples.begin(), samples.end());
  a << " leader_kills=" << nm.leader_kills().size() << " failover_samples=" << samples.size()
    << " failover_median_ms=" << (samples.empty() ? 0 : samples[samples.size() / 2].count())
    << " longest_to_ack_after_leader_kill_ms=" << (samples.empty() ? 0 : samples.back().count());
  if (never) a << " (" << never << " clean kill(s) without a later ack)";
  a << " attempts:";
  for (const auto& [code, count] : h.attempts_by_code()) a << " " << code << "=" << count;
  say(a.str());
  if (!v.pass()) ++integration::failures;
  return v.pass();
}

}  // namespace
}  // namespace troupe::chaos

int main(int argc, char** argv) {
  using namespace troupe::chaos;
  auto o = parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);  // a proxied peer closing mid-write is routine
  std::vector<std::uint64_t> failed;
  for (auto seed : o.seeds) {
    try {
      if (!run_seed(o, seed)) failed.push_back(seed);
    } catch (const std::exception& e) {
      say("chaos verdict: FAIL seed=" + std::to_string(seed) + " error: " + e.what());
      failed.push_back(seed);
    }
  }
  std::string list;
  for (auto s : failed) list += " " + std::to_string(s);
  say("chaos: " + std::to_string(o.seeds.size()) + " seed(s), " + std::to_string(failed.size()) + " failed" +
      (failed.empty() ? "" : ":" + list));
  return failed.empty() ? 0 : 1;
}
