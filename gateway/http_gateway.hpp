// http_gateway: the REST API, the live dashboard and /metrics on the node's
// http listen address (cpp-httplib, its own thread pool). Handlers translate
// HTTP into requests to the node service (a blocking scoped_actor request,
// about 90 µs, fine for REST) and its answers into JSON; gRPC and REST share
// the service's one code path. Writes sent to a follower are forwarded to the
// leader by the service.
//
// Every route lives in one table (see routes()): a path that matches no route
// is a JSON 404, a known path with another method a JSON 405 with Allow.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>

#include "config/node_config.hpp"
#include "service/node_service.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace troupe {

class http_server {
 public:
  // Binds the listen address (throws std::runtime_error if it cannot) and
  // serves on a thread of its own until destroyed.
  http_server(caf::actor_system& sys, config::node_config cfg, node_service_actor service);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Request bodies above this are refused with 413.
  static constexpr std::size_t max_body_bytes = 64 * 1024;
  // Concurrent /api/events streams above this are refused with 503.
  static constexpr int max_event_streams = 16;

 private:
  using handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  struct route {
    std::string pattern;
    std::regex re;
    std::vector<std::pair<std::string, handler>> methods;  // "GET" also answers HEAD
  };
  void routes();
  void add(const std::string& pattern, const std::string& method, handler h);
  void dispatch(const httplib::Request& req, httplib::Response& res);

  void get_cluster(const httplib::Request& req, httplib::Response& res);
  void post_job(const httplib::Request& req, httplib::Response& res);
  void delete_job(const httplib::Request& req, httplib::Response& res);
  void list_jobs(const httplib::Request& req, httplib::Response& res);
  void get_job(const httplib::Request& req, httplib::Response& res);
  void raft_log(const httplib::Request& req, httplib::Response& res);
  void transfer_leadership(const httplib::Request& req, httplib::Response& res);
  void drain(const httplib::Request& req, httplib::Response& res);
  void undrain(const httplib::Request& req, httplib::Response& res);
  void topology(const httplib::Request& req, httplib::Response& res);
  void events(const httplib::Request& req, httplib::Response& res);
  void serve_metrics(const httplib::Request& req, httplib::Response& res);

  caf::actor_system& sys_;
  config::node_config cfg_;
  node_service_actor service_;
  std::vector<route> routes_;
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<std::atomic<bool>> stopping_;
  std::shared_ptr<std::atomic<int>> event_streams_;
  std::thread thread_;
};

}  // namespace troupe
