#include "tests/integration/cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "tests/integration/client.hpp"
#include "transport/client_credentials.hpp"

namespace troupe::integration {
namespace fs = std::filesystem;

namespace {

// Asks the kernel for `count` distinct free loopback ports. All sockets stay
// bound until every port is known, so the same port is never handed out twice.
std::vector<std::uint16_t> free_ports(std::size_t count) {
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    fds.push_back(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/troupe-integ-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  return buf.data();
}

std::string loopback(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace

bool wait_until(milliseconds timeout, const std::function<bool()>& done, milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto max_rounds = timeout / step + 2;
  for (decltype(max_rounds) i = 0; i < max_rounds; ++i) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(step);
  }
  return done();
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& address, const client_security& sec) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a node restarts on the same port.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // gRPC also takes MIN_RECONNECT_BACKOFF as the time one connection attempt
  // may take (a refused connect still fails at once and is retried after the
  // initial backoff). A TLS handshake on a loaded machine can need more than
  // 100 ms, and attempts cut short every time never connect.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, sec.ca_file.empty() ? 100 : 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  if (sec.ca_file.empty() && !sec.token.empty())
    throw std::invalid_argument("make_channel: a token needs TLS (set ca_file)");
  auto creds = transport::client_credentials(sec.ca_file, sec.cert_file, sec.key_file);
  // AccessTokenCredentials sends "authorization: Bearer <token>".
  if (!sec.token.empty()) creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(sec.token));
  return grpc::CreateCustomChannel(address, creds, args);
}

std::unique_ptr<scheduler::SchedulerService::Stub> make_stub(const std::string& address, const client_security& sec) {
  return scheduler::SchedulerService::NewStub(make_channel(address, sec));
}

std::unique_ptr<scheduler::SchedulerService::Stub> make_stub(const std::string& address) {
  return make_stub(address, client_security{});
}

void set_deadline(grpc::ClientContext& ctx, milliseconds d) {
  ctx.set_deadline(std::chrono::system_clock::now() + d);
}

cluster::cluster(cluster_options opts) : opts_(std::move(opts)), failures_at_start_(failed_assertions()) {
  if (opts_.nodes == 0) throw std::invalid_argument("cluster needs at least one node");
  dir_ = make_temp_dir();
  const std::size_t total = opts_.nodes + opts_.spare_nodes;
  const bool wire = opts_.raft_wire;
  auto ports = free_ports(3 * total);
  nodes_.resize(total);
  for (std::size_t i = 0; i < total; ++i) {
    auto& n = nodes_[i];
    n.id = i + 1;
    n.grpc_port = ports[3 * i];
    n.http_port = ports[3 * i + 1];
    n.wire_port = wire ? ports[3 * i + 2] : 0;
    n.config_path = dir_ + "/node-" + std::to_string(n.id) + ".toml";
    n.stub = make_stub(loopback(n.grpc_port), opts_.client);
  }
  for (const auto& n : nodes_) write_config(n);
}

cluster::~cluster() {
  bool failed = failed_assertions() > failures_at_start_ || std::uncaught_exceptions() > 0;
  if (failed) dump_logs();
  for (auto& n : nodes_) {
    if (n.pid > 0) {
      ::kill(n.pid, SIGKILL);
      reap(n, milliseconds(5000));
    }
  }
  if (failed || std::getenv("TROUPE_KEEP_TEST_DIR")) {
    std::cerr << "[cluster] kept " << dir_ << "\n";
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void cluster::write_config(const node& n) const {
  std::ostringstream t;
  const bool spare = n.id > opts_.nodes;
  t << "[node]\nid = " << n.id << "\ndata_dir = \"" << data_dir(n.id) << "\"\n" << (spare ? "join = true\n" : "")
    << "\n[listen]\ngrpc = \"" << loopback(n.grpc_port) << "\"\nhttp = \"" << loopback(n.http_port) << "\"\n";
  if (n.wire_port != 0) t << "wire = \"" << loopback(n.wire_port) << "\"\n";
  t << "\n";
  for (const auto& m : nodes_) {
    if (m.id > opts_.nodes && m.id != n.id) continue;  // the seed: the first nodes (and a spare itself)
    auto address = m.id != n.id && opts_.peer_address ? opts_.peer_address(n.id, m.id) : loopback(m.grpc_port);
    t << "[[members]]\nid = " << m.id << "\naddress = \"" << address << "\"\nhttp = \"" << loopback(m.http_port)
      << "\"\n";
    if (m.wire_port != 0)
      t << "wire = \""
        << (m.id != n.id && opts_.peer_wire_address ? opts_.peer_wire_address(n.id, m.id) : loopback(m.wire_port))
        << "\"\n";
    t << "\n";
  }
  t << "[raft]\ntick_ms = " << opts_.tick_ms << "\nelection_ticks = " << opts_.election_ticks
    << "\nheartbeat_ticks = " << opts_.heartbeat_ticks << "\ncommit_deadline_ms = " << opts_.commit_deadline_ms
    << "\nmax_pending_proposals = " << opts_.max_pending_proposals << "\nsnapshot_every = " << opts_.snapshot_every
    << "\n\n"
    << "[worker]\nheartbeat_ms = " << opts_.worker_heartbeat_ms << "\ndead_after_ms = " << opts_.worker_dead_after_ms
    << "\ncapacity = " << opts_.worker_capacity << "\n\n"
    << "[executor]\nbackend = \"" << opts_.executor_backend << "\"\ntimeout_s = 60\n";
  if (!opts_.docker_socket.empty()) t << "docker_socket = \"" << opts_.docker_socket << "\"\n";
  if (!opts_.default_image.empty()) t << "default_image = \"" << opts_.default_image << "\"\n";
  if (opts_.max_active != 0) t << "\n[jobs]\nmax_active = " << opts_.max_active << "\n";
  t << "\n[log]\nlevel = \"" << opts_.log_level << "\"\n";
  if (!opts_.extra_toml.empty()) t << "\n" << opts_.extra_toml << "\n";
  if (!opts_.tls_dir.empty()) {
    const auto node = opts_.tls_dir + "/node-" + std::to_string(n.id);
    t << "\n[tls]\ncert_file = \"" << node << ".crt\"\nkey_file = \"" << node << ".key\"\nca_file = \""
      << opts_.tls_dir << "/ca.crt\"\n";
  }
  for (const auto& tok : opts_.tokens)
    t << "\n[[auth.tokens]]\nname = \"" << tok.name << "\"\ntoken = \"" << tok.token << "\"\nrole = \"" << tok.role
      << "\"\n";
  std::ofstream f(n.config_path, std::ios::trunc);
  f << t.str();
  f.close();
  if (!f) throw std::runtime_error("cannot write " + n.config_path);
}

void cluster::start_all() {
  for (auto& n : nodes_)
    if (n.pid <= 0 && n.id <= opts_.nodes) start(n.id);
}

void cluster::start(std::uint64_t id, const std::vector<std::string>& extra_args) {
  auto& n = at(id);
  if (n.pid > 0) throw std::logic_error("node " + std::to_string(id) + " is already running");
  ++n.starts;
  auto log = log_path(id);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + log + ": " + std::strerror(errno));
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls until exec.
  std::string bin = node_binary();
  std::vector<const char*> argv{bin.c_str(), "--config", n.config_path.c_str()};
  for (const auto& a : extra_args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const char* workdir = dir_.c_str();
  std::vector<std::string> extra_env = opts_.node_env ? opts_.node_env(id) : std::vector<std::string>{};
  std::vector<const char*> envp;  // the extra entries first: getenv finds the first of a name
  for (const auto& e : extra_env) envp.push_back(e.c_str());
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // If the test itself is killed (a ctest timeout), its nodes go with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (::chdir(workdir) != 0) ::_exit(126);
    ::execve(argv[0], const_cast<char* const*>(argv.data()), const_cast<char* const*>(envp.data()));
    ::_exit(127);
  }
  ::close(fd);
  n.pid = pid;
}

void cluster::reap(node& n, milliseconds timeout) {
  if (n.pid <= 0) return;
  int status = 0;
  bool gone = wait_until(timeout, [&] {
    pid_t r = ::waitpid(n.pid, &status, WNOHANG);
    return r == n.pid || (r < 0 && errno == ECHILD);
  }, milliseconds(10));
  if (!gone) {
    ::kill(n.pid, SIGKILL);
    ::waitpid(n.pid, &status, 0);
  }
  n.pid = -1;
}

void cluster::kill9(std::uint64_t id) {
  auto& n = at(id);
  if (n.pid <= 0) throw std::logic_error("node " + std::to_string(id) + " is not running");
  ::kill(n.pid, SIGKILL);
  reap(n, milliseconds(5000));
}

bool list_members(cluster& c, std::uint64_t id, bool local, membership::ListMembersResponse& out,
                  const client_security& sec, milliseconds deadline) {
  auto stub = membership::MembershipService::NewStub(make_channel(c.grpc_address(id), sec));
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  membership::ListMembersRequest req;
  req.set_local(local);
  return stub->ListMembers(&ctx, req, &out).ok();
}

bool is_member(const membership::ListMembersResponse& r, std::uint64_t id) {
  for (const auto& m : r.members())
    if (m.id() == id) return true;
  return false;
}

bool is_voter(const membership::ListMembersResponse& r, std::uint64_t id) {
  for (const auto& m : r.members())
    if (m.id() == id) return m.voter();
  return false;
}

std::size_t cluster::wipe_data_dir(std::uint64_t id) {
  if (at(id).pid > 0) throw std::logic_error("node " + std::to_string(id) + " is running; its data dir stays");
  std::size_t removed = 0;
  for (const auto& e : std::filesystem::directory_iterator(data_dir(id)))
    removed += std::filesystem::remove_all(e.path());
  return removed;
}

int cluster::terminate(std::uint64_t id, milliseconds grace) {
  auto& n = at(id);
  if (n.pid <= 0) throw std::logic_error("node " + std::to_string(id) + " is not running");
  ::kill(n.pid, SIGTERM);
  int status = -1;
  bool exited = wait_until(grace, [&] { return ::waitpid(n.pid, &status, WNOHANG) == n.pid; }, milliseconds(20));
  if (!exited) {
    ::kill(n.pid, SIGKILL);
    ::waitpid(n.pid, &status, 0);
  }
  n.pid = -1;
  return status;
}

bool cluster::running(std::uint64_t id) const { return at(id).pid > 0; }

bool cluster::exited(std::uint64_t id, int* status) {
  auto& n = at(id);
  if (n.pid <= 0) return false;
  int st = 0;
  if (::waitpid(n.pid, &st, WNOHANG) != n.pid) return false;
  n.pid = -1;
  if (status) *status = st;
  return true;
}
pid_t cluster::pid(std::uint64_t id) const { return at(id).pid; }
std::string cluster::grpc_address(std::uint64_t id) const { return loopback(at(id).grpc_port); }
std::string cluster::wire_address(std::uint64_t id) const {
  return at(id).wire_port ? loopback(at(id).wire_port) : std::string();
}
std::string cluster::http_address(std::uint64_t id) const { return loopback(at(id).http_port); }
std::string cluster::data_dir(std::uint64_t id) const { return dir_ + "/data-" + std::to_string(id); }

std::string cluster::log_path(std::uint64_t id) const {
  const auto& n = at(id);
  return dir_ + "/node-" + std::to_string(id) + "." + std::to_string(std::max(n.starts, 1)) + ".log";
}

std::string cluster::config_path(std::uint64_t id) const { return at(id).config_path; }

std::string cluster::log_text(std::uint64_t id) const {
  std::ifstream f(log_path(id));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::uint64_t> cluster::ids() const {
  std::vector<std::uint64_t> out;
  for (const auto& n : nodes_) out.push_back(n.id);
  return out;
}

scheduler::SchedulerService::Stub& cluster::stub(std::uint64_t id) { return *at(id).stub; }

bool cluster::status(std::uint64_t id, scheduler::GetClusterStatusResponse& out, milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  scheduler::GetClusterStatusRequest req;
  return stub(id).GetClusterStatus(&ctx, req, &out).ok();
}

std::uint64_t cluster::agreed_leader() {
  std::uint64_t leader = 0;
  for (const auto& n : nodes_) {
    if (n.pid <= 0) continue;
    scheduler::GetClusterStatusResponse s;
    if (!status(n.id, s, milliseconds(1000)) || s.leader_id() == 0) return 0;
    if (leader != 0 && s.leader_id() != leader) return 0;
    leader = s.leader_id();
  }
  if (leader == 0 || leader > nodes_.size() || at(leader).pid <= 0) return 0;
  // The leader must say so itself (a forwarded answer comes from it too).
  scheduler::GetClusterStatusResponse self;
  if (!status(leader, self, milliseconds(1000))) return 0;
  return self.node_id() == leader && self.role() == "leader" ? leader : 0;
}

std::uint64_t cluster::wait_for_leader(milliseconds timeout) {
  std::uint64_t leader = 0;
  wait_until(timeout, [&] { return (leader = agreed_leader()) != 0; }, milliseconds(50));
  return leader;
}

std::uint64_t cluster::some_follower(std::uint64_t leader) const {
  for (const auto& n : nodes_)
    if (n.id != leader && n.pid > 0) return n.id;
  return 0;
}

void cluster::dump_logs(std::size_t lines) const {
  for (const auto& n : nodes_) {
    std::ifstream f(log_path(n.id));
    std::deque<std::string> tail;
    for (std::string l; std::getline(f, l);) {
      tail.push_back(std::move(l));
      if (tail.size() > lines) tail.pop_front();
    }
    std::cerr << "----- " << log_path(n.id) << " (last " << tail.size() << " lines, pid " << n.pid << ") -----\n";
    for (const auto& l : tail) std::cerr << l << "\n";
  }
}

cluster::node& cluster::at(std::uint64_t id) {
  if (id == 0 || id > nodes_.size()) throw std::out_of_range("no node " + std::to_string(id));
  return nodes_[id - 1];
}
const cluster::node& cluster::at(std::uint64_t id) const {
  if (id == 0 || id > nodes_.size()) throw std::out_of_range("no node " + std::to_string(id));
  return nodes_[id - 1];
}

// The environment may point at other builds of the binaries (e.g. to run this
// suite against an installed release); the build's own are the default.
const char* node_binary() {
  const char* env = std::getenv("TROUPE_NODE_BINARY");
  return env && *env ? env : TROUPE_NODE_BINARY;
}
const char* cli_binary() {
  const char* env = std::getenv("TROUPE_CLI_BINARY");
  return env && *env ? env : TROUPE_CLI_BINARY;
}
const char* make_certs_script() {
  const char* env = std::getenv("TROUPE_MAKE_CERTS");
  return env && *env ? env : TROUPE_MAKE_CERTS;
}

void make_certs(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/bin/bash", make_certs_script()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv, milliseconds(60000));
  if (r.exit_code != 0) throw std::runtime_error("make-certs.sh failed: " + r.output);
}

bool cluster::wait_serving(const std::vector<std::uint64_t>& nodes, milliseconds timeout) const {
  return wait_until(timeout, [&] {
    for (auto id : nodes)
      if (log_text(id).find("grpc_gateway: serving") == std::string::npos) return false;
    return true;
  });
}

std::vector<std::string> faketime_env(const std::string& offset) {
  if (::access(TROUPE_LIBFAKETIME, R_OK) != 0)
    throw std::runtime_error(TROUPE_LIBFAKETIME " is missing: scripts/setup.sh installs Debian's faketime package");
  return {std::string("LD_PRELOAD=") + TROUPE_LIBFAKETIME, "FAKETIME=" + offset, "FAKETIME_DONT_FAKE_MONOTONIC=1"};
}

}  // namespace troupe::integration
