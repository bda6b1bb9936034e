#include "config/validate.hpp"

#include "config/data_dir.hpp"
#include "config/host_port.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <vector>

namespace troupe::config {
namespace {

constexpr const char* flags_source = "<flags>";

// In a flags-only config, name the flag the user typed rather than the TOML
// key they never saw.
const std::map<std::string, std::string>& flag_for_key() {
  static const std::map<std::string, std::string> m{
      {"[node].id", "--node-id"},         {"[node].data_dir", "--data-dir"},
      {"[node].advertise_addr", "--advertise-addr"},
      {"[listen].grpc", "--port"},        {"[listen].http", "--dashboard-port"},
      {"[executor].backend", "--executor"}, {"[executor].default_image", "--image"},
      {"[log].level", "--log-level"}};
  return m;
}

std::string lowercase(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

class checker {
 public:
  explicit checker(const node_config& c) : c_(c), from_flags_(c.source == flags_source) {}

  void run() {
    check_node();
    check_listen();
    check_members();
    check_raft();
    check_worker();
    check_executor();
    check_jobs();
    check_log();
    check_data_dir();  // last: the only check with a side effect
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw config_error(c_.source + ": " + name(key) + ": " + problem);
  }

  std::string name(const std::string& key) const {
    if (!from_flags_) return key;
    const auto it = flag_for_key().find(key);
    return it == flag_for_key().end() ? key : it->second;
  }

  // Members from --peers have no file position; name them by id.
  std::string member_key(std::size_t index, const std::string& field) const {
    if (from_flags_) return "--peers (member " + std::to_string(c_.members[index].id) + ")";
    return "[[members]][" + std::to_string(index + 1) + "]." + field;
  }

  std::pair<std::string, std::uint16_t> endpoint(const std::string& key, const std::string& value,
                                                 bool must_be_dialable) const {
    std::pair<std::string, std::uint16_t> hp;
    try {
      hp = split_host_port(value);
    } catch (const config_error& e) {
      fail(key, e.what());
    }
    if (must_be_dialable && is_wildcard_host(hp.first))
      fail(key, quoted(value) + " is a listen-on-all address; give one peers and clients can dial");
    return hp;
  }

  template <class T>
  void in_range(const std::string& key, T value, T min, T max, const std::string& why) const {
    if (value < min || value > max)
      fail(key, std::to_string(value) + " is out of range " + std::to_string(min) + ".." +
                    std::to_string(max) + " (" + why + ")");
  }

  void check_node() const {
    if (c_.id == 0) fail("[node].id", "must be > 0 (0 means \"no node\" in Raft)");
    if (c_.data_dir.empty())
      fail("[node].data_dir", "missing (where this node keeps its Raft log, snapshots and job outputs)");
    if (!c_.advertise_addr.empty()) endpoint("[node].advertise_addr", c_.advertise_addr, true);
  }

  void check_listen() const {
    const auto grpc = endpoint("[listen].grpc", c_.grpc_listen, false);
    const auto http = endpoint("[listen].http", c_.http_listen, false);
    if (grpc.second == http.second)
      fail("[listen].http", "port " + std::to_string(http.second) + " is also the " +
                                name("[listen].grpc") + " port; the two listeners need different ports");
  }

  struct used_port {
    std::string host;
    std::uint16_t port;
    std::string key;
  };

  void check_members() const {
    if (c_.members.empty())
      fail(from_flags_ ? "--peers" : "[[members]]", "no members given (list every member, this node included)");

    std::vector<used_port> used;
    auto claim = [&](const std::string& key, const std::string& host, std::uint16_t port) {
      for (const used_port& u : used)
        if (u.host == host && u.port == port)
          fail(key, "port " + std::to_string(port) + " on host " + host + " is also used by " + u.key);
      used.push_back({host, port, key});
    };

    for (std::size_t i = 0; i < c_.members.size(); ++i) {
      const member& m = c_.members[i];
      if (m.id == 0) fail(member_key(i, "id"), "must be > 0 (0 means \"no node\" in Raft)");
      for (std::size_t j = 0; j < i; ++j) {
        if (c_.members[j].id == m.id)
          fail(member_key(i, "id"), std::to_string(m.id) + " is also the id of " + member_key(j, "id"));
        if (c_.members[j].address == m.address)
          fail(member_key(i, "address"), quoted(m.address) + " is also the address of member " +
                                             std::to_string(c_.members[j].id));
      }
      const auto address = endpoint(member_key(i, "address"), m.address, true);
      claim(member_key(i, "address"), lowercase(address.first), address.second);
      if (!m.http_address.empty()) {
        const auto http = endpoint(member_key(i, "http"), m.http_address, true);
        claim(member_key(i, "http"), lowercase(http.first), http.second);
      }
    }

    if (c_.id != 0 && c_.find_member(c_.id) == nullptr) {
      std::string ids;
      for (const member& m : c_.members) ids += (ids.empty() ? "" : ", ") + std::to_string(m.id);
      fail("[node].id", std::to_string(c_.id) + " is not the id of any member (member ids: " + ids + ")");
    }
  }

  void check_raft() const {
    const raft_options& r = c_.raft;
    in_range<std::uint32_t>("[raft].tick_ms", r.tick_ms, 1, 10000, "milliseconds per Raft tick");
    in_range<std::uint32_t>("[raft].heartbeat_ticks", r.heartbeat_ticks, 1, 1000, "ticks between leader heartbeats");
    if (r.election_ticks <= r.heartbeat_ticks)
      fail("[raft].election_ticks",
           std::to_string(r.election_ticks) + " must be greater than [raft].heartbeat_ticks (" +
               std::to_string(r.heartbeat_ticks) + "), or followers start elections against a live leader");
    in_range<std::uint32_t>("[raft].election_ticks", r.election_ticks, 2, 10000, "ticks before a follower calls an election");
    in_range<std::uint32_t>("[raft].commit_deadline_ms", r.commit_deadline_ms, 1, 3600000,
                            "milliseconds a proposal may wait for commit");
    in_range<std::uint32_t>("[raft].max_pending_proposals", r.max_pending_proposals, 1, 1000000,
                            "uncommitted proposals the leader accepts");
    in_range<std::uint64_t>("[raft].snapshot_every", r.snapshot_every, 1, 1000000000, "applied entries between snapshots");
    in_range<std::uint32_t>("[raft].max_entries_per_append", r.max_entries_per_append, 1, 100000,
                            "entries per AppendEntries message");
    // gRPC refuses messages above 4 MiB by default; leave room for framing.
    in_range<std::uint32_t>("[raft].snapshot_chunk_bytes", r.snapshot_chunk_bytes, 4096, 3u << 20,
                            "bytes per InstallSnapshot message; gRPC's default limit is 4 MiB");
  }

  void check_worker() const {
    const worker_options& w = c_.worker;
    in_range<std::uint32_t>("[worker].heartbeat_ms", w.heartbeat_ms, 10, 600000, "milliseconds between worker heartbeats");
    if (w.dead_after_ms <= w.heartbeat_ms)
      fail("[worker].dead_after_ms",
           std::to_string(w.dead_after_ms) + " must be greater than [worker].heartbeat_ms (" +
               std::to_string(w.heartbeat_ms) + "), or live workers are declared dead between heartbeats");
    in_range<std::uint32_t>("[worker].dead_after_ms", w.dead_after_ms, 20, 3600000, "milliseconds of silence before a worker is dead");
    in_range<std::uint32_t>("[worker].capacity", w.capacity, 1, 1024, "jobs run at once on this node");
    in_range<std::uint32_t>("[worker].max_attempts", w.max_attempts, 1, 100, "runs of one job before it fails for good");
  }

  void check_executor() const {
    const executor_options& e = c_.executor;
    if (e.backend != "docker" && e.backend != "process" && e.backend != "auto")
      fail("[executor].backend", quoted(e.backend) + " is not one of \"docker\", \"process\", \"auto\"");
    if (e.backend != "process" && e.docker_socket.empty())
      fail("[executor].docker_socket", "empty, but backend " + quoted(e.backend) + " needs the Docker socket path");
    if (e.default_image.empty()) fail("[executor].default_image", "empty (an image name such as \"alpine:latest\")");
    for (char ch : e.default_image)
      if (std::isspace(static_cast<unsigned char>(ch)))
        fail("[executor].default_image", quoted(e.default_image) + " contains whitespace");
    in_range<std::uint32_t>("[executor].timeout_s", e.timeout_s, 1, 86400, "seconds a job may run");
    in_range<std::uint64_t>("[executor].output_cap_bytes", e.output_cap_bytes, 1, 1ull << 30, "bytes of output kept per job");
    if (e.output_inline_bytes > e.output_cap_bytes)
      fail("[executor].output_inline_bytes",
           std::to_string(e.output_inline_bytes) + " exceeds [executor].output_cap_bytes (" +
               std::to_string(e.output_cap_bytes) + ")");

    const sandbox_options& s = e.sandbox;
    check_network_name(s.network);
    // Docker itself refuses memory limits below 6 MiB.
    in_range<std::int64_t>("[executor.sandbox].memory_bytes", s.memory_bytes, 6ll << 20, 1ll << 40, "bytes of memory per job");
    if (!std::isfinite(s.cpus) || s.cpus <= 0.0 || s.cpus > 1024.0)
      fail("[executor.sandbox].cpus", std::to_string(s.cpus) + " is out of range (0, 1024] (CPUs per job)");
    in_range<std::int64_t>("[executor.sandbox].pids_limit", s.pids_limit, 1, 1000000, "processes per job");
  }

  // "none", "bridge", "host" or a user-defined Docker network name.
  void check_network_name(const std::string& network) const {
    const std::string key = "[executor.sandbox].network";
    if (network.empty()) fail(key, "empty (use \"none\" for no network)");
    if (!std::isalnum(static_cast<unsigned char>(network.front())))
      fail(key, quoted(network) + " is not a Docker network name (must start with a letter or digit)");
    for (char ch : network)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
        fail(key, quoted(network) + " is not a Docker network name (contains '" + std::string(1, ch) + "')");
  }

  void check_jobs() const {
    const jobs_options& j = c_.jobs;
    in_range<std::uint64_t>("[jobs].retention_s", j.retention_s, 1, 365ull * 24 * 3600, "seconds finished jobs are kept");
    in_range<std::uint64_t>("[jobs].max_active", j.max_active, 1, 10000000, "jobs queued or running at once");
    in_range<std::uint32_t>("[jobs].max_command_bytes", j.max_command_bytes, 1, 1u << 20, "bytes per job command");
  }

  void check_log() const {
    static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error"};
    if (std::find(levels.begin(), levels.end(), c_.log.level) == levels.end())
      fail("[log].level", quoted(c_.log.level) + " is not one of trace, debug, info, warn, error");
  }

  void check_data_dir() const {
    const std::string failure = prove_writable_dir(c_.data_dir);
    if (!failure.empty()) fail("[node].data_dir", "cannot write data dir " + c_.data_dir + ": " + failure);
  }

  const node_config& c_;
  bool from_flags_;
};

}  // namespace

void validate(const node_config& c) { checker(c).run(); }

}  // namespace troupe::config
