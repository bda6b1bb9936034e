// Runs each job in a fresh, sandboxed container through the Docker Engine API:
// create (pulling the image if the daemon lacks it) -> start -> wait (job
// timeout) -> logs -> inspect (OOM) -> remove. Containers carry the labels
// troupe.job=<job id> and troupe.node=<node id> so a restarted node can find
// and remove the ones it left behind.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/exec/backend.hpp"
#include "runtime/exec/docker_client.hpp"

namespace troupe::exec {

class job_output;

struct docker_options {
  std::string socket_path = "/var/run/docker.sock";
  std::string api_version = "v1.41";
  sandbox_options sandbox;
  // Which node this is on a daemon that several may share (the node's data
  // dir): its containers are labelled troupe.owner=<owner>, and
  // orphaned_jobs never lists those of another owner with the same node id
  // (a second cluster on the same daemon). "": no label, as before.
  std::string owner;
};

class docker_backend final : public backend {
 public:
  explicit docker_backend(docker_options options);

  std::string name() const override { return "docker"; }
  bool healthy() override;
  job_result run(const job_spec& spec, cancel_token& cancel) override;
  // Containers labelled with this node id and this backend's owner, or with
  // no owner (left by a build before the owner label). Throws docker_error
  // when the daemon cannot be asked.
  std::vector<std::string> orphaned_jobs(std::uint64_t node_id) override;
  // Throws docker_error when the daemon cannot be asked.
  void remove_job_artifacts(const std::string& job_id) override;

  // The daemon's GET /version reply, read once on first success and cached so
  // the node can log it; nullopt while the daemon is unreachable.
  std::optional<nlohmann::json> daemon_version();
  // "docker 20.10.24 (API 1.41) at /var/run/docker.sock" or why it is unknown.
  std::string describe();

  const docker_client& client() const { return client_; }

 private:
  void execute(const job_spec& spec, cancel_token& cancel, job_output& out, job_result& r);
  std::string create_pulling_if_missing(const container_config& config);

  docker_options options_;
  docker_client client_;
  std::mutex version_mutex_;
  std::optional<nlohmann::json> version_;
};

std::unique_ptr<backend> make_docker_backend(docker_options options);

}  // namespace troupe::exec
