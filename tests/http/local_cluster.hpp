// local_cluster: starts N troupe-node processes on free loopback ports in a
// fresh temporary directory (process executor) and stops each one by its pid.
// Small on purpose: the REST and dashboard tests need a real cluster, nothing
// more. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace troupe::http_test {

// A port nobody listened on a moment ago: bind 127.0.0.1:0 and read it back.
std::uint16_t free_port();

struct node_process {
  std::uint64_t id = 0;
  std::uint16_t grpc_port = 0;
  std::uint16_t http_port = 0;
  pid_t pid = -1;
  std::string log_path;
  std::string scheme = "http";
  std::string http_base() const { return scheme + "://127.0.0.1:" + std::to_string(http_port); }
};

// What a test cluster adds to the default node config.
struct cluster_options {
  // Appended to every node's TOML; "{id}" is replaced by the node's id and
  // "{dir}" by the cluster's directory (e.g. per-node certificate paths).
  std::string extra_toml;
  // When set, the nodes serve https and clients trust this CA.
  std::string ca_file;
};

class local_cluster {
 public:
  // Writes the configs and starts every node. Throws std::runtime_error on failure.
  local_cluster(std::string node_binary, int size, cluster_options options = {});
  ~local_cluster();  // SIGTERM each pid, SIGKILL after 5 s, remove the directory
  local_cluster(const local_cluster&) = delete;
  local_cluster& operator=(const local_cluster&) = delete;

  // Polls /health/ready until every node reports the same leader; returns its id.
  std::uint64_t wait_for_leader(std::chrono::milliseconds timeout);

  // Stops one node (SIGTERM, SIGKILL after 5 s) and reaps it.
  void stop(std::uint64_t id);

  std::vector<node_process>& nodes() { return nodes_; }
  node_process& node(std::uint64_t id) { return nodes_.at(id - 1); }
  const std::string& dir() const { return dir_; }
  // The last lines of a node's log, for failure messages.
  std::string log_tail(std::uint64_t id, std::size_t bytes = 4000) const;

 private:
  std::string binary_;
  cluster_options options_;
  std::string dir_;
  std::vector<node_process> nodes_;
};

struct http_reply {
  long status = 0;  // 0: no HTTP answer (transport error)
  std::string body;
  std::string error;  // libcurl's message when status == 0
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string header(const std::string& lower_name) const;
};

struct request_options {
  std::vector<std::string> headers;  // extra "Name: value" lines
  std::string ca_file;               // for https: the CA to trust
};

// One blocking request with libcurl; timeout bounds the whole exchange.
// An empty content_type sends none.
http_reply http(const std::string& method, const std::string& url, const std::string& body = {},
                std::chrono::milliseconds timeout = std::chrono::milliseconds(15000),
                const std::string& content_type = "application/json", const request_options& options = {});

// Reads a server-sent event stream for at most `timeout`, stopping early once
// `until` appears in the received text.
std::string read_event_stream(const std::string& url, std::chrono::milliseconds timeout, const std::string& until);

}  // namespace troupe::http_test
