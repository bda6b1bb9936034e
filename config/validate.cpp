#include "config/validate.hpp"

#include "config/cpu_list.hpp"
#include "config/data_dir.hpp"
#include "config/limits.hpp"
#include "config/host_port.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
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
      {"[log].level", "--log-level"},      {"[tls].cert_file", "--tls-cert"},
      {"[tls].key_file", "--tls-key"},     {"[tls].ca_file", "--tls-ca"}};
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
    check_tls();
    check_auth();
    check_limits();
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
    if (c_.wire_listen.empty()) return;
    const auto wire = endpoint("[listen].wire", c_.wire_listen, false);
    if (wire.second == grpc.second || wire.second == http.second)
      fail("[listen].wire", "port " + std::to_string(wire.second) + " is also the " +
                                name(wire.second == grpc.second ? "[listen].grpc" : "[listen].http") +
                                " port; each listener needs its own port");
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
      if (!m.wire_address.empty()) {
        const auto wire = endpoint(member_key(i, "wire"), m.wire_address, true);
        claim(member_key(i, "wire"), lowercase(wire.first), wire.second);
      }
    }

    if (c_.id != 0 && c_.find_member(c_.id) == nullptr) {
      std::string ids;
      for (const member& m : c_.members) ids += (ids.empty() ? "" : ", ") + std::to_string(m.id);
      fail("[node].id", std::to_string(c_.id) + " is not the id of any member (member ids: " + ids + ")" +
                            (c_.join ? "; a joining node lists itself in [[members]] with the address the "
                                       "cluster dials (the one given to `troupe member add`)"
                                     : ""));
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
    // At most 1 s: the hold only delays when a job's end reaches the table.
    in_range<std::uint32_t>("[raft].status_hold_ms", r.status_hold_ms, 0, 1000,
                            "milliseconds a job status report waits to share a commit round");
    in_range<std::uint32_t>("[raft].status_hold_busy_ms", r.status_hold_busy_ms, 0, 1000,
                            "milliseconds a job status report waits to share a commit round while jobs wait for a slot");
    in_range<std::uint64_t>("[raft].snapshot_every", r.snapshot_every, 1, 1000000000, "applied entries between snapshots");
    in_range<std::uint32_t>("[raft].max_entries_per_append", r.max_entries_per_append, 1, 100000,
                            "entries per AppendEntries message");
    in_range<std::uint64_t>("[raft].max_append_bytes", r.max_append_bytes, 4096, 32ull << 20,
                            "entry bytes per AppendEntries message; one larger entry still goes alone");
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
    in_range<std::uint32_t>("[worker].capacity", w.capacity, 1, max_worker_slots, "jobs run at once on this node");
    in_range<std::uint32_t>("[worker].prefetch", w.prefetch, 0, max_worker_slots,
                            "jobs waiting on this node for a free slot");
    in_range<std::uint32_t>("[worker].max_attempts", w.max_attempts, 1, 100, "runs of one job before it fails for good");
    // At most 10 s: the hold only delays what clients see (heartbeats list
    // a held job as running all along).
    in_range<std::uint32_t>("[worker].running_report_hold_ms", w.running_report_hold_ms, 0, 10000,
                            "milliseconds a started job's RUNNING report waits");
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
    in_range<std::uint32_t>("[executor].max_timeout_s", e.max_timeout_s, 1, 30u * 86400, "the most seconds a job may ask for");
    in_range<std::uint32_t>("[executor].timeout_s", e.timeout_s, 1, e.max_timeout_s,
                            "seconds a job runs when it asks for no timeout; at most [executor].max_timeout_s");
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

    const process_options& p = e.process;
    if (p.work_dir.empty() || p.work_dir.front() != '/')
      fail("[executor.process].work_dir", quoted(p.work_dir) + " is not an absolute path");
    if (inside(p.work_dir, c_.data_dir))
      fail("[executor.process].work_dir", quoted(p.work_dir) + " is inside the data dir " + quoted(c_.data_dir) +
                                              "; jobs must not reach the node's Raft log");
    for (char ch : p.user)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.')
        fail("[executor.process].user", quoted(p.user) + " is not a user name");
    in_range<std::uint64_t>("[executor.process].max_processes", p.max_processes, 1, 1000000, "processes of the job's user");
    in_range<std::uint64_t>("[executor.process].max_file_bytes", p.max_file_bytes, 4096, 1ull << 50, "bytes per file a job writes");
    in_range<std::uint64_t>("[executor.process].cpu_s", p.cpu_s, 0, 30ull * 86400, "CPU seconds per job; 0 = the timeout");
    in_range<std::uint32_t>("[executor.process].nice", p.nice, 0, 19, "the jobs' nice value; higher yields more CPU to the node");
    std::string error;
    if (!p.cpus.empty() && !parse_cpu_list(p.cpus, error))
      fail("[executor.process].cpus", quoted(p.cpus) + " is not a CPU list: " + error + " (\"\" = any CPU)");
  }

  // Whether path `p` is `dir` or below it (lexically, both made absolute).
  static bool inside(const std::string& p, const std::string& dir) {
    namespace fs = std::filesystem;
    if (dir.empty()) return false;
    const auto a = fs::absolute(p).lexically_normal().string();
    auto b = fs::absolute(dir).lexically_normal().string();
    while (b.size() > 1 && b.back() == '/') b.pop_back();
    return a == b || a.rfind(b + "/", 0) == 0;
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

  void check_tls() const {
    const tls_options& t = c_.tls;
    const bool any = !t.cert_file.empty() || !t.key_file.empty() || !t.ca_file.empty();
    if (!any) return;
    const std::pair<const char*, const std::string*> files[] = {
        {"[tls].cert_file", &t.cert_file}, {"[tls].key_file", &t.key_file}, {"[tls].ca_file", &t.ca_file}};
    for (const auto& [key, value] : files) {
      if (value->empty()) fail(key, "missing (give cert_file, key_file and ca_file together, or none)");
      std::ifstream in(*value);
      if (!in) fail(key, "cannot read " + quoted(*value) + ": " + std::strerror(errno));
    }
  }

  void check_auth() const {
    const auto& tokens = c_.auth.tokens;
    for (std::size_t i = 0; i < tokens.size(); ++i)
      for (std::size_t j = 0; j < i; ++j) {
        const std::string key = "[[auth.tokens]][" + std::to_string(i + 1) + "]";
        if (tokens[i].name == tokens[j].name) fail(key + ".name", quoted(tokens[i].name) + " is used twice");
        if (tokens[i].token_sha256 == tokens[j].token_sha256)
          fail(key, "the same token as " + quoted(tokens[j].name) + " (each token must name one client)");
      }
  }

  void check_limits() const {
    const limits_options& l = c_.limits;
    const std::uint64_t output = 2 * c_.executor.output_cap_bytes + (64 << 10);
    in_range<std::uint64_t>("[limits].client_message_bytes", l.client_message_bytes, std::max<std::uint64_t>(output, 64 << 10),
                            1ull << 30, "bytes per client message; must hold a job's stdout and stderr (2 x [executor].output_cap_bytes + 64 KiB)");
    in_range<std::uint32_t>("[limits].stream_subscribers", l.stream_subscribers, 1, 100000, "StreamJobs / event streams open at once");
    in_range<std::uint32_t>("[limits].http_connections", l.http_connections, 4, 100000, "HTTP connections open at once");
    in_range<std::uint32_t>("[limits].http_header_bytes", l.http_header_bytes, 1024, 1u << 20, "bytes of request line and headers");
    in_range<std::uint32_t>("[limits].http_headers", l.http_headers, 8, 10000, "header fields per request");
    in_range<std::uint32_t>("[limits].http_request_timeout_ms", l.http_request_timeout_ms, 100, 600000,
                            "milliseconds to receive a request");
    in_range<std::uint32_t>("[limits].http_idle_timeout_ms", l.http_idle_timeout_ms, 100, 3600000,
                            "milliseconds an idle keep-alive connection stays open");
    for (std::size_t i = 0; i < c_.http.allowed_hosts.size(); ++i)
      if (c_.http.allowed_hosts[i].empty() || c_.http.allowed_hosts[i].find_first_of(" \t/") != std::string::npos)
        fail("[http].allowed_hosts[" + std::to_string(i) + "]", quoted(c_.http.allowed_hosts[i]) + " is not a host or host:port");
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
