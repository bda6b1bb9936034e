// http_gateway: the REST API, the live dashboard and /metrics on the node's
// http listen address, served by http::server (gateway/http_server.hpp: one
// thread per connection, capped, with deadlines). Handlers translate HTTP
// into requests to the node service (a blocking scoped_actor request, about
// 90 µs, fine for REST) and its answers into JSON; gRPC and REST share the
// service's one code path. Writes sent to a follower are forwarded to the
// leader by the service.
//
// Every route lives in one table (see routes()) with the access::operation
// it needs (none: the dashboard's files and /health/*): a path that matches no
// route is a JSON 404, a known path with another method a JSON 405 with Allow.
// Before any handler runs, dispatch() checks, in this order:
//   Host      one of the node's own names/addresses, the address the client
//             connected to, or [http] allowed_hosts ("*": any); else 421
//             (DNS rebinding: a foreign name resolving to this node)
//   Origin    when present, <scheme>://<an allowed host>; else 403 (CSRF)
//   token     "authorization: Bearer" against [[auth.tokens]] (access::gate): 401 / 403
//   body      POST/PUT/PATCH/DELETE with a body, or with any Content-Type:
//             it must be application/json; else 415 (an HTML form or a
//             text/plain fetch cannot send it without a CORS preflight)
// Every response carries the CSP, X-Frame-Options DENY, nosniff,
// Referrer-Policy no-referrer and (API) Cache-Control: no-store.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "config/node_config.hpp"
#include "gateway/http_server.hpp"
#include "service/access.hpp"
#include "service/node_service.hpp"

namespace troupe {

class http_server {
 public:
  // Binds the listen address (throws std::runtime_error if it cannot, or if
  // the TLS files do not load) and serves until destroyed.
  http_server(caf::actor_system& sys, config::node_config cfg, node_service_actor service);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Request bodies above this are refused with 413.
  static constexpr std::size_t max_body_bytes = 64 * 1024;

  // A Host header value (or an Origin's host) the node answers to.
  struct host_pattern {
    std::string host;                   // lower-case, IPv6 without brackets
    std::optional<std::uint16_t> port;  // nullopt: any port
  };

 private:
  using request = http::request;
  using response = http::response;
  using handler = std::function<void(const request&, response&)>;
  struct method_entry {
    std::string method;
    std::optional<access::operation> op;  // nullopt: open to anyone
    handler h;
  };
  struct route {
    std::string pattern;
    std::regex re;
    std::vector<method_entry> methods;  // "GET" also answers HEAD
  };
  void routes();
  void add(const std::string& pattern, const std::string& method, std::optional<access::operation> op, handler h);
  void dispatch(request& req, response& res, const http::connection_info& conn);
  bool host_allowed(std::string_view host_port, bool tls, const http::connection_info& conn) const;

  void get_cluster(const request& req, response& res);
  void post_job(const request& req, response& res);
  void delete_job(const request& req, response& res);
  void list_jobs(const request& req, response& res);
  void get_job(const request& req, response& res);
  void raft_log(const request& req, response& res);
  void transfer_leadership(const request& req, response& res);
  void drain(const request& req, response& res);
  void undrain(const request& req, response& res);
  void topology(const request& req, response& res);
  void events(const request& req, response& res);
  void serve_metrics(const request& req, response& res);

  caf::actor_system& sys_;
  config::node_config cfg_;
  node_service_actor service_;
  access::gate gate_;
  bool any_host_ = false;
  std::vector<host_pattern> allowed_hosts_;
  std::vector<route> routes_;
  std::shared_ptr<std::atomic<int>> event_streams_;
  std::unique_ptr<http::server> server_;  // last: stopped first, while the rest is still there
};

}  // namespace troupe
