// Security of the REST server against real single-node clusters, one per
// case with the config it needs: slow and malformed clients, header caps,
// Content-Type / Host / Origin checks, security headers, bearer tokens per
// route, TLS, the /api/events cap and invalid UTF-8 in job output.
// Every node is stopped by its pid (local_cluster); traffic is on 127.0.0.1.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "local_cluster.hpp"

using namespace troupe::http_test;
using json = nlohmann::json;
using std::chrono::milliseconds;
using clk = std::chrono::steady_clock;

namespace {

struct node_under_test {
  std::unique_ptr<local_cluster> cluster;
  explicit node_under_test(cluster_options opts = {}) {
    cluster = std::make_unique<local_cluster>(TROUPE_NODE_BINARY, 1, std::move(opts));
    cluster->wait_for_leader(milliseconds(20000));
  }
  node_process& node() { return cluster->node(1); }
  std::string base() { return node().http_base(); }
  std::uint16_t port() { return node().http_port; }
  std::string host() { return "127.0.0.1:" + std::to_string(port()); }
};

json parse(const http_reply& r) {
  auto j = json::parse(r.body, nullptr, false);
  INFO("status " << r.status << " body: " << r.body << " error: " << r.error);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    auto r = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (r <= 0) return false;
    off += static_cast<std::size_t>(r);
  }
  return true;
}

// Reads until the peer closes, `until` appears, or the timeout passes.
std::string read_some(int fd, milliseconds timeout, const std::string& until = {}) {
  std::string out;
  auto deadline = clk::now() + timeout;
  char buf[8192];
  while (clk::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<milliseconds>(deadline - clk::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
    auto r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  return out;
}

// Sends raw bytes on a fresh connection and returns everything answered.
std::string exchange(std::uint16_t port, const std::string& bytes, milliseconds timeout = milliseconds(5000)) {
  int fd = connect_to(port);
  send_all(fd, bytes);
  auto out = read_some(fd, timeout);
  ::close(fd);
  return out;
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

const char* const security_headers[][2] = {
    {"content-security-policy",
     "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"},
    {"x-frame-options", "DENY"},
    {"x-content-type-options", "nosniff"},
    {"referrer-policy", "no-referrer"},
};

}  // namespace

TEST_CASE("100 slowloris connections and a 500k-header flood: /health/live stays fast, memory bounded, slow ones cut off") {
  node_under_test n({"[limits]\nhttp_request_timeout_ms = 4000\n", {}});
  const auto pid = n.node().pid;
  for (int i = 0; i < 5; ++i) REQUIRE(http("GET", n.base() + "/health/live").status == 200);
  const long rss_before = rss_kib(pid);
  REQUIRE(rss_before > 0);

  // 100 clients that send a request head one line every 2 s, never finishing it.
  constexpr int slow_clients = 100;
  std::vector<int> fds;
  std::vector<clk::time_point> opened, closed(slow_clients);
  std::mutex closed_mu;  // `closed` is written by the driver, read here
  for (int i = 0; i < slow_clients; ++i) {
    fds.push_back(connect_to(n.port()));
    opened.push_back(clk::now());
    REQUIRE(send_all(fds.back(), "GET /api/jobs HTTP/1.1\r\nHost: " + n.host() + "\r\n"));
  }
  std::atomic<bool> attack_over{false};
  std::thread slow_driver([&] {
    int line = 0;
    while (!attack_over.load()) {
      for (int i = 0; i < slow_clients; ++i) {
        {
          std::lock_guard<std::mutex> g(closed_mu);
          if (closed[static_cast<std::size_t>(i)] != clk::time_point{}) continue;
        }
        char b;
        auto r = ::recv(fds[static_cast<std::size_t>(i)], &b, 1, MSG_DONTWAIT | MSG_PEEK);
        bool gone = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        if (r > 0) gone = true;  // the server answered (408) instead of waiting: it is closing
        if (!gone) gone = !send_all(fds[static_cast<std::size_t>(i)], "X-Slow-" + std::to_string(line) + ": 1\r\n");
        if (gone) {
          std::lock_guard<std::mutex> g(closed_mu);
          closed[static_cast<std::size_t>(i)] = clk::now();
        }
      }
      ++line;
      for (int t = 0; t < 20 && !attack_over.load(); ++t) std::this_thread::sleep_for(milliseconds(100));
    }
  });
  // One client sending 500k header lines (64 bytes each, 32 MB: far more than
  // the socket buffers hold) as fast as the server takes them.
  std::atomic<long> flood_lines{0};
  std::thread flood([&] {
    int fd = connect_to(n.port());
    std::string batch;
    for (int i = 0; i < 1000; ++i) {
      std::string line = "X-Flood-" + std::to_string(i) + ": ";
      batch += line + std::string(62 - line.size(), 'f') + "\r\n";
    }
    bool ok = send_all(fd, "GET /health/live HTTP/1.1\r\nHost: " + n.host() + "\r\n");
    for (long sent = 0; ok && sent < 500000; sent += 1000) {
      ok = send_all(fd, batch);
      if (ok) flood_lines += 1000;
    }
    ::close(fd);
  });

  // /health/live during the attack.
  std::vector<long long> latencies_ms;
  long rss_max = rss_before;
  const auto attack_start = clk::now();
  while (clk::now() - attack_start < std::chrono::seconds(7)) {
    auto t0 = clk::now();
    auto r = http("GET", n.base() + "/health/live", {}, milliseconds(3000));
    latencies_ms.push_back(std::chrono::duration_cast<milliseconds>(clk::now() - t0).count());
    CHECK(r.status == 200);
    rss_max = std::max(rss_max, rss_kib(pid));
    std::this_thread::sleep_for(milliseconds(300));
  }
  flood.join();
  // The server closes every slow connection once its request deadline (4 s) passed.
  auto deadline = clk::now() + std::chrono::seconds(6);
  auto all_closed = [&] {
    std::lock_guard<std::mutex> g(closed_mu);
    return std::none_of(closed.begin(), closed.end(), [](auto t) { return t == clk::time_point{}; });
  };
  while (clk::now() < deadline && !all_closed()) std::this_thread::sleep_for(milliseconds(200));
  attack_over = true;
  slow_driver.join();
  rss_max = std::max(rss_max, rss_kib(pid));

  std::sort(latencies_ms.begin(), latencies_ms.end());
  INFO("latencies (ms, sorted): " << json(latencies_ms).dump() << "; RSS before " << rss_before << " KiB, max "
                                  << rss_max << " KiB; flood lines sent " << flood_lines.load());
  REQUIRE(latencies_ms.size() >= 10);
  // The machine is shared (2 cores, parallel builds): one sample in ten may be
  // late for reasons that are not the node's; the 90th percentile may not.
  CHECK(latencies_ms[latencies_ms.size() * 9 / 10 - 1] < 100);
  CHECK(latencies_ms.back() < 1000);
  CHECK(rss_max - rss_before < 30 * 1024);
  CHECK(flood_lines.load() < 500000);  // refused (431) and cut off long before the end
  for (int i = 0; i < slow_clients; ++i) {
    const auto c = closed[static_cast<std::size_t>(i)];
    REQUIRE_MESSAGE(c != clk::time_point{}, "slow connection " << i << " was never closed by the server");
    const auto held = std::chrono::duration_cast<milliseconds>(c - opened[static_cast<std::size_t>(i)]).count();
    CHECK(held >= 3500);  // not before the request timeout
    CHECK(held <= 9000);  // the timeout (4 s) plus the 2 s probe period and slack
    ::close(fds[static_cast<std::size_t>(i)]);
  }
  CHECK(http("GET", n.base() + "/health/live").status == 200);
}

TEST_CASE("connections beyond [limits] http_connections get a JSON 503 at once; the slots come back") {
  node_under_test n({"[limits]\nhttp_connections = 4\n", {}});
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(connect_to(n.port()));
  // Until the acceptor has taken all four (on a loaded machine it may take
  // longer than a fixed sleep), a probe still finds a free slot. And a slot
  // may still be held by an earlier request's connection whose server thread
  // has not ended yet (the start-up health check): an idle connection that
  // arrived then was itself refused (it has the 503 to read), so it is
  // replaced until four are held.
  auto replace_refused = [&] {
    for (int& fd : idle) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        ::close(fd);
        fd = connect_to(n.port());
      }
    }
  };
  auto t0 = clk::now();
  auto refused = http("GET", n.base() + "/health/live", {}, milliseconds(5000), "");
  for (int i = 0; i < 50 && refused.status != 503; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    replace_refused();
    t0 = clk::now();
    refused = http("GET", n.base() + "/health/live", {}, milliseconds(5000), "");
  }
  CHECK(std::chrono::duration_cast<milliseconds>(clk::now() - t0).count() < 1000);
  CHECK(refused.status == 503);
  CHECK(refused.header("x-frame-options") == "DENY");
  CHECK(parse(refused)["error"].get<std::string>().find("too many HTTP connections open (limit 4)") != std::string::npos);
  for (int fd : idle) ::close(fd);
  http_reply after;
  auto deadline = clk::now() + std::chrono::seconds(5);
  while (clk::now() < deadline) {
    after = http("GET", n.base() + "/health/live", {}, milliseconds(2000), "");
    if (after.status == 200) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(after.status == 200);
}

TEST_CASE("request caps and framing: 431, 414, 411, 413, 400, Expect: 100-continue, keep-alive") {
  node_under_test n;
  const std::string host = "Host: " + n.host() + "\r\n";
  auto with_headers = [&](int count) {
    std::string req = "GET /health/live HTTP/1.1\r\n" + host;
    for (int i = 1; i < count; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
    return req + "Connection: close\r\n\r\n";
  };
  // Host + 98 + Connection = 100 fields: the limit; one more is refused.
  CHECK(status_of(exchange(n.port(), with_headers(99))) == 200);
  auto many = exchange(n.port(), with_headers(100));
  CHECK(status_of(many) == 431);
  CHECK(many.find("more than 100 header fields") != std::string::npos);
  auto big = exchange(n.port(), "GET /health/live HTTP/1.1\r\n" + host + "X-Big: " + std::string(17 * 1024, 'a') + "\r\n\r\n");
  CHECK(status_of(big) == 431);
  CHECK(big.find("larger than 16384 bytes") != std::string::npos);
  for (const auto& [name, value] : security_headers) CHECK(big.find(std::string(value)) != std::string::npos);
  CHECK(status_of(exchange(n.port(), "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + host + "\r\n")) == 414);
  CHECK(status_of(exchange(n.port(), "POST /api/jobs HTTP/1.1\r\n" + host +
                                         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                         "2\r\n{}\r\n0\r\n\r\n")) == 411);
  CHECK(status_of(exchange(n.port(), "POST /api/jobs HTTP/1.1\r\n" + host +
                                         "Content-Type: application/json\r\nContent-Length: 999999\r\n\r\n")) == 413);
  CHECK(status_of(exchange(n.port(), "GET /health/live HTTP/1.1\r\n\r\n")) == 400);  // no Host
  CHECK(status_of(exchange(n.port(), "GARBAGE\r\n\r\n")) == 400);
  CHECK(status_of(exchange(n.port(), "GET /health/live HTTP/2.0\r\n" + host + "\r\n")) == 505);

  // Expect: 100-continue is answered before the body is sent.
  {
    int fd = connect_to(n.port());
    const std::string body = R"({"command": "echo continued"})";
    REQUIRE(send_all(fd, "POST /api/jobs HTTP/1.1\r\n" + host + "Content-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = read_some(fd, milliseconds(3000), "\r\n\r\n");
    CHECK(interim.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
    REQUIRE(send_all(fd, body));
    auto final_answer = read_some(fd, milliseconds(10000), "\"status\":\"pending\"");
    CHECK(status_of(final_answer) == 200);
    ::close(fd);
  }
  // Two requests on one kept-alive connection, the second pipelined.
  {
    auto both = exchange(n.port(), "GET /health/live HTTP/1.1\r\n" + host + "\r\nGET /health/live HTTP/1.1\r\n" + host +
                                       "Connection: close\r\n\r\n");
    std::size_t answers = 0;
    for (auto at = both.find("HTTP/1.1 200 OK"); at != std::string::npos; at = both.find("HTTP/1.1 200 OK", at + 1))
      ++answers;
    CHECK(answers == 2);
  }
}

TEST_CASE("Content-Type, Host, Origin and the security headers") {
  node_under_test n;
  const std::string job = R"({"command": "echo ct"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
    INFO(type);
    auto r = http("POST", n.base() + "/api/jobs", job, milliseconds(10000), type);
    CHECK(r.status == 415);
    CHECK(parse(r)["error"].get<std::string>().find("application/json") != std::string::npos);
  }
  CHECK(http("POST", n.base() + "/api/jobs", job, milliseconds(10000), "").status == 415);  // a body, no type
  CHECK(http("POST", n.base() + "/api/jobs", job, milliseconds(10000), "Application/JSON; charset=utf-8").status == 200);
  // No body: DELETE and a bare POST need no Content-Type (Origin and tokens guard them).
  auto del = http("DELETE", n.base() + "/api/jobs/6f1c2a4e-0d3b-4c5a-9e8f-123456789abc", {}, milliseconds(10000), "");
  CHECK(del.status == 404);
  CHECK(http("POST", n.base() + "/api/undrain", {}, milliseconds(10000), "").status == 200);

  auto wrong_host = http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "application/json",
                         {{"Host: attacker.example"}, {}});
  CHECK(wrong_host.status == 421);
  CHECK(parse(wrong_host)["error"].get<std::string>().find("attacker.example") != std::string::npos);
  CHECK(http("GET", n.base() + "/", {}, milliseconds(5000), "", {{"Host: attacker.example:" + std::to_string(n.port())}, {}})
            .status == 421);
  CHECK(http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "",
             {{"Host: localhost:" + std::to_string(n.port())}, {}})
            .status == 200);
  CHECK(http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "", {{"Host: localhost:1"}, {}}).status == 421);

  auto foreign = http("POST", n.base() + "/api/jobs", job, milliseconds(5000), "application/json",
                      {{"Origin: http://evil.example"}, {}});
  CHECK(foreign.status == 403);
  CHECK(parse(foreign)["error"].get<std::string>().find("cross-origin") != std::string::npos);
  CHECK(http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "", {{"Origin: null"}, {}}).status == 403);
  CHECK(http("POST", n.base() + "/api/jobs", job, milliseconds(10000), "application/json",
             {{"Origin: http://" + n.host()}, {}})
            .status == 200);

  for (const std::string path : {"/", "/api/jobs", "/health/live", "/api/nothing", "/app.js"}) {
    INFO(path);
    auto r = http("GET", n.base() + path, {}, milliseconds(5000), "");
    CHECK(r.status == (path == "/api/nothing" ? 404 : 200));
    for (const auto& [name, value] : security_headers) CHECK(r.header(name) == value);
    if (path.rfind("/api", 0) == 0 || path == "/health/live") CHECK(r.header("cache-control") == "no-store");
  }
  // The page runs no inline script or style (the CSP would block it).
  auto page = http("GET", n.base() + "/", {}, milliseconds(5000), "").body;
  CHECK(page.find("<script>") == std::string::npos);
  CHECK(page.find("<style") == std::string::npos);
  CHECK(page.find(" style=") == std::string::npos);
  CHECK_FALSE(std::regex_search(page, std::regex(R"(\son[a-z]+\s*=)")));  // no inline event handlers
}

TEST_CASE("bearer tokens: 401 without, roles per route, health and the dashboard open") {
  node_under_test n({"[[auth.tokens]]\nname = \"viewer\"\ntoken = \"read-token\"\nrole = \"read\"\n\n"
                     "[[auth.tokens]]\nname = \"ci\"\ntoken = \"submit-token\"\nrole = \"submit\"\n\n"
                     "[[auth.tokens]]\nname = \"ops\"\ntoken = \"admin-token\"\nrole = \"admin\"\n",
                     {}});
  auto as = [](const std::string& token) { return request_options{{"Authorization: Bearer " + token}, {}}; };
  const std::string job = R"({"command": "echo authed"})";
  const auto t = milliseconds(15000);

  auto none = http("GET", n.base() + "/api/jobs", {}, t, "");
  CHECK(none.status == 401);
  CHECK(none.header("www-authenticate").find("Bearer") == 0);
  CHECK(parse(none)["error"].get<std::string>().find("authentication required") != std::string::npos);
  CHECK(http("GET", n.base() + "/api/jobs", {}, t, "", as("wrong-token")).status == 401);
  CHECK(http("GET", n.base() + "/api/jobs", {}, t, "", {{"Authorization: Basic cmVhZC10b2tlbg=="}, {}}).status == 401);
  CHECK(http("GET", n.base() + "/api/events", {}, t, "").status == 401);

  for (const std::string path : {"/api/jobs", "/api/cluster", "/api/topology", "/api/raft/log", "/metrics"}) {
    INFO(path);
    CHECK(http("GET", n.base() + path, {}, t, "", as("read-token")).status == 200);
    CHECK(http("GET", n.base() + path, {}, t, "").status == 401);
  }
  auto read_post = http("POST", n.base() + "/api/jobs", job, t, "application/json", as("read-token"));
  CHECK(read_post.status == 403);
  CHECK(parse(read_post)["error"].get<std::string>().find("needs role submit") != std::string::npos);

  auto submitted = http("POST", n.base() + "/api/jobs", job, t, "application/json", as("submit-token"));
  REQUIRE(submitted.status == 200);
  auto id = parse(submitted)["job_id"].get<std::string>();
  CHECK(http("GET", n.base() + "/api/jobs/" + id, {}, t, "", as("submit-token")).status == 200);
  CHECK(http("POST", n.base() + "/api/drain", {}, t, "", as("submit-token")).status == 403);
  CHECK(http("POST", n.base() + "/api/leadership/transfer", "{}", t, "application/json", as("submit-token")).status == 403);

  auto drained = http("POST", n.base() + "/api/drain", {}, milliseconds(80000), "", as("admin-token"));
  CHECK(drained.status == 200);
  CHECK(parse(drained)["success"] == true);
  CHECK(http("POST", n.base() + "/api/undrain", {}, t, "", as("admin-token")).status == 200);

  for (const std::string path : {"/health/live", "/health/ready", "/", "/app.js", "/style.css"}) {
    INFO(path);
    CHECK(http("GET", n.base() + path, {}, t, "").status == 200);
  }
}

TEST_CASE("TLS: the REST API over https with the cluster CA; plaintext to the TLS port fails") {
  char tmpl[] = "/tmp/troupe-certs-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const std::string certs = tmpl;
  const std::string cmd = "bash " TROUPE_SOURCE_DIR "/scripts/make-certs.sh " + certs + " 1 >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  {
    node_under_test n({"[tls]\ncert_file = \"" + certs + "/node-{id}.crt\"\nkey_file = \"" + certs +
                           "/node-{id}.key\"\nca_file = \"" + certs + "/ca.crt\"\n",
                       certs + "/ca.crt"});
    REQUIRE(n.base().rfind("https://", 0) == 0);
    const request_options tls{{}, certs + "/ca.crt"};
    auto live = http("GET", n.base() + "/health/live", {}, milliseconds(5000), "", tls);
    CHECK(live.status == 200);
    CHECK(live.header("x-frame-options") == "DENY");
    auto submitted = http("POST", n.base() + "/api/jobs", R"({"command": "echo over tls"})", milliseconds(15000),
                          "application/json", tls);
    CHECK(submitted.status == 200);
    CHECK(http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "", tls).status == 200);
    // Same origin over https; an http:// origin is another origin.
    CHECK(http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "",
               {{"Origin: https://" + n.host()}, certs + "/ca.crt"})
              .status == 200);
    CHECK(http("GET", n.base() + "/api/jobs", {}, milliseconds(5000), "",
               {{"Origin: http://" + n.host()}, certs + "/ca.crt"})
              .status == 403);

    auto plain = http("GET", "http://" + n.host() + "/health/live", {}, milliseconds(5000), "");
    CHECK(plain.status == 0);
    CHECK_FALSE(plain.error.empty());
    // Without the CA the certificate is not trusted.
    CHECK(http("GET", n.base() + "/health/live", {}, milliseconds(5000), "").status == 0);
    // The node still answers after the failed handshakes.
    CHECK(http("GET", n.base() + "/health/live", {}, milliseconds(5000), "", tls).status == 200);
  }
  std::system(("rm -rf " + certs).c_str());
}

TEST_CASE("/api/events: capped at [limits] stream_subscribers with a JSON 503; slots come back when clients leave") {
  node_under_test n({"[limits]\nstream_subscribers = 2\n", {}});
  const std::string req = "GET /api/events HTTP/1.1\r\nHost: " + n.host() + "\r\n\r\n";
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(connect_to(n.port()));
    REQUIRE(send_all(held.back(), req));
    auto head = read_some(held.back(), milliseconds(5000), "event: hello");
    CHECK(status_of(head) == 200);
    CHECK(head.find("Transfer-Encoding: chunked") != std::string::npos);
  }
  auto refused = http("GET", n.base() + "/api/events", {}, milliseconds(5000), "");
  CHECK(refused.status == 503);
  CHECK(parse(refused)["error"].get<std::string>().find("too many event streams") != std::string::npos);
  for (int fd : held) ::close(fd);
  // The server notices the closed streams within its poll interval (1 s).
  std::string text;
  auto deadline = clk::now() + std::chrono::seconds(8);
  while (clk::now() < deadline) {
    text = read_event_stream(n.base() + "/api/events", milliseconds(2000), "event: hello");
    if (text.find("event: hello") != std::string::npos) break;
  }
  CHECK(text.find("event: hello") != std::string::npos);
}

TEST_CASE("/api/events subscribers that never read: memory stays bounded and the server drops them") {
  node_under_test n({"[limits]\nhttp_request_timeout_ms = 2000\n", {}});
  const auto pid = n.node().pid;
  const long rss_before = rss_kib(pid);
  std::vector<int> readers;
  for (int i = 0; i < 20; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;  // a client that does not read: its window closes at once
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(n.port());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(send_all(fd, "GET /api/events HTTP/1.1\r\nHost: " + n.host() + "\r\n\r\n"));
    readers.push_back(fd);
  }
  // 30 jobs with 60 KB of output each: 1.8 MB of events per stream, past the
  // 1 MiB a stream may queue.
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    auto r = http("POST", n.base() + "/api/jobs", json{{"command", "head -c 60000 /dev/zero | tr '\\0' x"}}.dump());
    REQUIRE(r.status == 200);
    ids.push_back(parse(r)["job_id"].get<std::string>());
  }
  long rss_max = rss_before;
  auto deadline = clk::now() + std::chrono::seconds(30);
  for (const auto& id : ids) {
    while (clk::now() < deadline) {
      rss_max = std::max(rss_max, rss_kib(pid));
      auto g = http("GET", n.base() + "/api/jobs/" + id);
      if (g.status == 200 && parse(g)["status"] == "completed") break;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  // Each stream either overflowed or stalled past the write deadline (2 s):
  // the server ends it. Reading now drains what the socket buffers held, then EOF.
  std::this_thread::sleep_for(milliseconds(3000));
  rss_max = std::max(rss_max, rss_kib(pid));
  int ended = 0;
  const auto read_deadline = clk::now() + std::chrono::seconds(30);
  for (int fd : readers) {
    char buf[65536];
    while (clk::now() < read_deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 500) <= 0) continue;
      auto r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        ++ended;
        break;
      }
    }
    ::close(fd);
  }
  INFO("RSS before " << rss_before << " KiB, max " << rss_max << " KiB");
  CHECK(ended == 20);
  // 20 streams of at most 1 MiB queued each, plus the jobs themselves.
  CHECK(rss_max - rss_before < 40 * 1024);
  CHECK(read_event_stream(n.base() + "/api/events", milliseconds(5000), "event: hello").find("event: hello") !=
        std::string::npos);
}

TEST_CASE("invalid UTF-8 in job output: job, list and event stream answer 200 with U+FFFD") {
  node_under_test n;
  const std::string replaced = "\xEF\xBF\xBD\xEF\xBF\xBD ok";  // two U+FFFD
  std::string events;
  std::thread reader([&] { events = read_event_stream(n.base() + "/api/events", milliseconds(20000), replaced); });
  std::this_thread::sleep_for(milliseconds(500));
  auto r = http("POST", n.base() + "/api/jobs", json{{"command", "printf '\\377\\376 ok'"}}.dump());
  REQUIRE(r.status == 200);
  const auto id = parse(r)["job_id"].get<std::string>();
  json job;
  auto deadline = clk::now() + std::chrono::seconds(20);
  while (clk::now() < deadline) {
    auto g = http("GET", n.base() + "/api/jobs/" + id);
    REQUIRE(g.status == 200);
    job = parse(g);
    if (job["status"] == "completed" || job["status"] == "failed") break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(job["status"] == "completed");
  CHECK(job["output"] == replaced);
  auto list = http("GET", n.base() + "/api/jobs");
  CHECK(list.status == 200);
  CHECK(list.body.find(replaced) != std::string::npos);
  reader.join();
  INFO(events.substr(0, 1000));
  CHECK(events.find(replaced) != std::string::npos);
  // The listener survived: a new stream still works.
  CHECK(read_event_stream(n.base() + "/api/events", milliseconds(5000), "event: hello").find("event: hello") !=
        std::string::npos);
}

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  curl_global_cleanup();
  return rc;
}
