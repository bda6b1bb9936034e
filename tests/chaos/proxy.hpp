// A fault-injecting TCP proxy for the chaos test: one loopback listener per
// directed link (i -> j) of an N-node cluster. Node i's config lists peer j at
// address(i, j), so every connection node i opens to node j crosses link
// (i, j), in both directions of that connection. The test changes a link's
// mode at any time; no root network changes are needed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace troupe::chaos {

enum class link_mode {
  pass,   // bytes flow (after the link's delay)
  cut,    // open connections are reset and new ones closed at once (a partition)
  stall,  // bytes stop moving, connections stay open (a blackhole; data flows again on heal)
};

class fault_proxy {
 public:
  explicit fault_proxy(std::size_t nodes);  // binds every link's listener
  ~fault_proxy();                           // closes every connection, joins every thread
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  std::string address(std::uint64_t from, std::uint64_t to) const;
  // Where connections to node `to` go (its real gRPC listener); before start().
  void set_destination(std::uint64_t to, const std::string& host_port);
  void start();

  void set_mode(std::uint64_t from, std::uint64_t to, link_mode m);
  void set_delay(std::uint64_t from, std::uint64_t to, int ms);
  // Both directions of every link between `node` and the others.
  void set_node_mode(std::uint64_t node, link_mode m);
  void set_node_delay(std::uint64_t node, int ms);
  // Cuts every link between a member of `side` and a node outside it.
  void split(const std::vector<std::uint64_t>& side);
  // Every link back to pass without delay.
  void heal();

  std::uint64_t connections_accepted() const { return accepted_.load(); }

 private:
  struct conn;
  struct link {
    std::uint64_t from = 0, to = 0;
    int listen_fd = -1;
    std::uint16_t port = 0;
    std::atomic<int> mode{static_cast<int>(link_mode::pass)};
    std::atomic<int> delay_ms{0};
    std::mutex mu;                          // guards conns
    std::vector<std::weak_ptr<conn>> conns;
  };

  link& at(std::uint64_t from, std::uint64_t to) const;
  void accept_loop();
  void open(link& l, int client_fd);
  void pump(link& l, std::shared_ptr<conn> c, bool forward);
  void reset_connections(link& l);

  std::size_t n_;
  std::vector<std::unique_ptr<link>> links_;  // index (from-1)*n + (to-1); self links unused
  std::vector<std::string> destinations_;     // by node id - 1
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> accepted_{0};
  struct pump_thread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void join_finished_pumps(bool all);
  std::mutex threads_mu_;
  std::vector<pump_thread> pumps_;  // finished ones are joined by the acceptor
  std::thread acceptor_;
};

}  // namespace troupe::chaos
