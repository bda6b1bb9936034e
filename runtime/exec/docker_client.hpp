// Typed calls to the Docker Engine API (default v1.41) over its unix socket.
// Every call is blocking and independent (own connection), so the client can be
// shared between a job's thread and the thread that cancels it. Failures throw
// docker_error carrying the HTTP status (0 when the daemon was not reached)
// and the daemon's own message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/exec/docker_stream.hpp"
#include "runtime/exec/job.hpp"
#include "runtime/exec/unix_http.hpp"

namespace troupe::exec {

class docker_error : public std::runtime_error {
 public:
  docker_error(const std::string& what, long status, std::string daemon_message)
      : std::runtime_error(what), status_(status), daemon_message_(std::move(daemon_message)) {}
  long status() const { return status_; }  // 0: no HTTP exchange happened
  bool unreachable() const { return status_ == 0; }
  const std::string& daemon_message() const { return daemon_message_; }

 private:
  long status_;
  std::string daemon_message_;
};

// "registry:5000/team/app:1.2" -> ("registry:5000/team/app", "1.2"); no tag ->
// "latest"; a digest reference ("app@sha256:...") keeps the digest in the name
// and returns an empty tag.
std::pair<std::string, std::string> split_image_reference(std::string_view image);

struct container_config {
  std::string image;
  std::vector<std::string> cmd;
  std::map<std::string, std::string> labels;
  sandbox_options sandbox;
};

// The Engine API JSON body for POST /containers/create.
nlohmann::json container_create_body(const container_config& config);

struct container_state {
  std::string status;  // "created", "running", "exited", ...
  bool running = false;
  bool oom_killed = false;
  int exit_code = 0;
};

struct container_summary {
  std::string id;
  std::string state;
  std::map<std::string, std::string> labels;
};

class docker_client {
 public:
  explicit docker_client(std::string socket_path, std::string api_version = "v1.41");

  const std::string& socket_path() const { return http_.socket_path(); }

  // GET /_ping; false on any failure, never throws.
  bool ping() const;
  // GET /version: {"Version": "...", "ApiVersion": "...", ...}.
  nlohmann::json version() const;

  // POST /containers/create; returns the container id. A missing image throws
  // docker_error with status 404.
  std::string create_container(const container_config& config) const;
  void start_container(const std::string& id) const;
  // POST /containers/{id}/wait. Returns the exit status, or nullopt when the
  // timeout elapsed or should_abort() returned true first.
  std::optional<int> wait_container(const std::string& id, std::chrono::milliseconds timeout,
                                    const std::function<bool()>& should_abort = {}) const;
  // GET /containers/{id}/logs?stdout=1&stderr=1, demultiplexed and streamed to
  // sink as it arrives.
  void stream_logs(const std::string& id, const docker_stream_demuxer::sink& sink) const;
  // Whole logs as (stdout, stderr).
  std::pair<std::string, std::string> logs(const std::string& id) const;
  // SIGKILL; a container that is not running (409) or is gone (404) is not an error.
  void kill_container(const std::string& id) const;
  // DELETE /containers/{id}?force=1; a container that is gone (404) is not an error.
  void remove_container(const std::string& id) const;
  container_state inspect_container(const std::string& id) const;

  // GET /images/{name}/json; nullopt when the daemon does not have the image.
  std::optional<nlohmann::json> inspect_image(const std::string& image) const;
  // POST /images/create?fromImage=..&tag=..; throws docker_error with the
  // daemon's message when the pull fails (the daemon may report it as an HTTP
  // error or as an "error" line inside a 200 progress stream).
  void pull_image(const std::string& image) const;

  // GET /containers/json?all=1 filtered by label ("key" or "key=value").
  std::vector<container_summary> list_containers(const std::string& label_filter) const;

 private:
  http_response call(const std::string& what, http_request req, bool allow_failure = false) const;
  std::string api(const std::string& path) const { return "/" + api_version_ + path; }

  unix_http_client http_;
  std::string api_version_;
};

}  // namespace troupe::exec
