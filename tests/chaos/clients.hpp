// The chaos test's client threads: each submits jobs with a unique token in
// the command, cancels some of its own acknowledged jobs, and follows
// "Not the leader" redirects, talking to the nodes directly (never through
// the proxy). Every answer goes into the shared history.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/history.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::chaos {

struct client_options {
  std::vector<std::string> node_addresses;  // gRPC address of node id i at [i - 1]
  integration::client_security security;    // a cluster with [tls]: its CA
  std::uint64_t seed = 1;
  std::size_t threads = 3;
  int pause_ms = 60;            // between one thread's operations
  int call_deadline_ms = 4000;  // per RPC; a deadline makes the operation indeterminate
  std::string run_tag;          // part of every token: tok-<run_tag>-<thread>-<n>
  // Every job first appends its token to this file (the process executor runs
  // on this host), so the checker can count how often each job really ran.
  std::string runs_file;
};

class clients {
 public:
  clients(client_options opts, history& h);
  ~clients();  // stops and joins
  clients(const clients&) = delete;
  clients& operator=(const clients&) = delete;

  void start();
  // Asks every thread to stop after its current operation (each RPC has a
  // deadline, so this is bounded) and joins them.
  void stop();

 private:
  void run(std::size_t index);

  client_options opts_;
  history& history_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace troupe::chaos
