#include "local_cluster.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace troupe::http_test {

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

local_cluster::local_cluster(std::string node_binary, int size, cluster_options options)
    : binary_(std::move(node_binary)), options_(std::move(options)) {
  char tmpl[] = "/tmp/troupe-http-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  dir_ = tmpl;
  std::set<std::uint16_t> used;
  auto fresh = [&] {
    for (int i = 0; i < 100; ++i) {
      auto p = free_port();
      if (used.insert(p).second) return p;
    }
    throw std::runtime_error("no free loopback port found");
  };
  for (int i = 1; i <= size; ++i) {
    node_process n;
    n.id = static_cast<std::uint64_t>(i);
    n.grpc_port = fresh();
    n.http_port = fresh();
    n.log_path = dir_ + "/node-" + std::to_string(i) + ".log";
    if (!options_.ca_file.empty()) n.scheme = "https";
    nodes_.push_back(n);
  }
  for (auto& n : nodes_) {
    std::ostringstream toml;
    toml << "[node]\nid = " << n.id << "\ndata_dir = \"" << dir_ << "/data-" << n.id << "\"\n\n"
         << "[listen]\ngrpc = \"127.0.0.1:" << n.grpc_port << "\"\nhttp = \"127.0.0.1:" << n.http_port << "\"\n\n";
    for (const auto& m : nodes_)
      toml << "[[members]]\nid = " << m.id << "\naddress = \"127.0.0.1:" << m.grpc_port << "\"\nhttp = \"127.0.0.1:"
           << m.http_port << "\"\n\n";
    toml << "[executor]\nbackend = \"process\"\n\n[log]\nlevel = \"info\"\n\n";
    std::string extra = options_.extra_toml;
    for (auto [key, value] : {std::pair<std::string, std::string>{"{id}", std::to_string(n.id)}, {"{dir}", dir_}})
      for (auto at = extra.find(key); at != std::string::npos; at = extra.find(key, at + value.size()))
        extra.replace(at, key.size(), value);
    toml << extra << "\n";
    auto cfg_path = dir_ + "/node-" + std::to_string(n.id) + ".toml";
    std::ofstream(cfg_path) << toml.str();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      int fd = ::open(n.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      if (::chdir(dir_.c_str()) != 0) ::_exit(126);
      ::execl(binary_.c_str(), binary_.c_str(), "--config", cfg_path.c_str(), "--executor", "process",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    n.pid = pid;
  }
}

namespace {

// Waits for a signalled child until the deadline, then kills it hard.
void reap(pid_t& pid, std::chrono::steady_clock::time_point deadline) {
  while (pid > 0) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) {
      pid = -1;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      pid = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

void local_cluster::stop(std::uint64_t id) {
  auto& n = nodes_.at(id - 1);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGTERM);
  reap(n.pid, std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

local_cluster::~local_cluster() {
  for (auto& n : nodes_)
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& n : nodes_) reap(n.pid, deadline);
  if (!std::getenv("TROUPE_KEEP_TEST_DIR")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::uint64_t local_cluster::wait_for_leader(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::set<std::uint64_t> leaders;
    bool all = true;
    for (const auto& n : nodes_) {
      auto r = http("GET", n.http_base() + "/health/ready", {}, std::chrono::milliseconds(1000), "application/json",
                    request_options{{}, options_.ca_file});
      if (r.status != 200) {
        all = false;
        break;
      }
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (j.is_discarded() || !j["leader_id"].is_number_unsigned()) {
        all = false;
        break;
      }
      leaders.insert(j["leader_id"].get<std::uint64_t>());
    }
    if (all && leaders.size() == 1) return *leaders.begin();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("no agreed leader within " + std::to_string(timeout.count()) + " ms; node 1 log:\n" +
                           log_tail(1));
}

std::string local_cluster::log_tail(std::uint64_t id, std::size_t bytes) const {
  std::ifstream in(nodes_.at(id - 1).log_path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

std::string http_reply::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

namespace {

std::size_t on_body(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

std::size_t on_header(char* p, std::size_t size, std::size_t n, void* out) {
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<http_reply*>(out)->headers.emplace_back(name, value);
  }
  return size * n;
}

struct stream_state {
  std::string text;
  std::string until;
};

std::size_t on_stream(char* p, std::size_t size, std::size_t n, void* out) {
  auto* s = static_cast<stream_state*>(out);
  s->text.append(p, size * n);
  if (s->text.find(s->until) != std::string::npos) return 0;  // abort the transfer: found
  return size * n;
}

}  // namespace

http_reply http(const std::string& method, const std::string& url, const std::string& body,
                std::chrono::milliseconds timeout, const std::string& content_type, const request_options& options) {
  http_reply out;
  CURL* c = curl_easy_init();
  if (!c) throw std::runtime_error("curl_easy_init failed");
  curl_slist* hdrs = nullptr;
  // An empty type removes the header curl would add for a body (form-urlencoded).
  hdrs = curl_slist_append(hdrs, content_type.empty() ? "Content-Type:" : ("Content-Type: " + content_type).c_str());
  hdrs = curl_slist_append(hdrs, "Expect:");
  for (const auto& h : options.headers) hdrs = curl_slist_append(hdrs, h.c_str());
  if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  auto rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  else
    out.error = curl_easy_strerror(rc);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return out;
}

std::string read_event_stream(const std::string& url, std::chrono::milliseconds timeout, const std::string& until) {
  stream_state s;
  s.until = until;
  CURL* c = curl_easy_init();
  if (!c) throw std::runtime_error("curl_easy_init failed");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_perform(c);  // ends by timeout or by on_stream aborting: both expected
  curl_easy_cleanup(c);
  return s.text;
}

}  // namespace troupe::http_test
