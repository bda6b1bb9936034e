#include "runtime/exec/docker_backend.hpp"

#include <chrono>
#include <set>
#include <thread>

#include "runtime/exec/output_store.hpp"

namespace troupe::exec {

namespace {

using namespace std::chrono_literals;

// After a kill, the container exits within moments; this only bounds a daemon
// that stopped answering.
constexpr auto kill_settle_timeout = 30s;

// The job's error when something outside the job itself prevents it from running.
struct job_setup_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Lets the cancelling thread kill the container directly (no polling delay).
// Shared with the cancel_token callback, which may outlive run().
class container_killer {
 public:
  container_killer(const docker_client& client, std::string id) : client_(client), id_(std::move(id)) {}
  void fire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (disarmed_) return;
    try {
      client_.kill_container(id_);
    } catch (const docker_error&) {
      // run() kills again after its wait returns and reports any failure.
    }
  }
  void disarm() {
    std::lock_guard<std::mutex> lock(mutex_);
    disarmed_ = true;
  }

 private:
  std::mutex mutex_;
  docker_client client_;  // a copy: valid even if the backend is gone
  std::string id_;
  bool disarmed_ = false;
};

// Removes the container however run() leaves (normal return or exception).
class container_guard {
 public:
  container_guard(const docker_client& client, std::string id) : client_(client), id_(std::move(id)) {}
  ~container_guard() {
    try {
      client_.remove_container(id_);
    } catch (const docker_error&) {
      // Left for orphaned_jobs()/remove_job_artifacts() after the daemon recovers.
    }
  }
  container_guard(const container_guard&) = delete;
  container_guard& operator=(const container_guard&) = delete;

 private:
  const docker_client& client_;
  std::string id_;
};

}  // namespace

docker_backend::docker_backend(docker_options options)
    : options_(std::move(options)), client_(options_.socket_path, options_.api_version) {}

bool docker_backend::healthy() { return client_.ping(); }

std::optional<nlohmann::json> docker_backend::daemon_version() {
  std::lock_guard<std::mutex> lock(version_mutex_);
  if (!version_) {
    try {
      version_ = client_.version();
    } catch (const docker_error&) {
      return std::nullopt;
    }
  }
  return version_;
}

std::string docker_backend::describe() {
  auto v = daemon_version();
  if (!v) return "docker daemon at " + options_.socket_path + " (unreachable, version unknown)";
  return "docker " + v->value("Version", std::string("?")) + " (API " + v->value("ApiVersion", std::string("?")) +
         ") at " + options_.socket_path;
}

std::string docker_backend::create_pulling_if_missing(const container_config& config) {
  try {
    return client_.create_container(config);
  } catch (const docker_error& e) {
    if (e.status() != 404) throw;
  }
  try {
    client_.pull_image(config.image);
  } catch (const docker_error& e) {
    if (e.unreachable()) throw;
    throw job_setup_error("image " + config.image + " not found: " + e.daemon_message());
  }
  return client_.create_container(config);
}

job_result docker_backend::run(const job_spec& spec, cancel_token& cancel) {
  return run_with_output(spec, [&](job_output& out, job_result& r) { execute(spec, cancel, out, r); });
}

void docker_backend::execute(const job_spec& spec, cancel_token& cancel, job_output& out, job_result& r) {
  if (spec.image.empty()) throw job_setup_error("job " + spec.job_id + " has no image");
  if (spec.command.empty()) throw job_setup_error("job " + spec.job_id + " has an empty command");
  if (spec.timeout.count() <= 0)
    throw job_setup_error("job " + spec.job_id + " has a non-positive timeout (" +
                          std::to_string(spec.timeout.count()) + " s)");
  if (cancel.cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled before start";
    return;
  }

  container_config config;
  config.image = spec.image;
  config.cmd = {"sh", "-c", spec.command};
  config.labels = {{"troupe.job", spec.job_id}, {"troupe.node", std::to_string(spec.node_id)}};
  if (!options_.owner.empty()) config.labels["troupe.owner"] = options_.owner;
  config.sandbox = options_.sandbox;
  const std::string id = create_pulling_if_missing(config);
  container_guard remove_on_exit(client_, id);

  auto killer = std::make_shared<container_killer>(client_, id);
  cancel.on_cancel([killer] { killer->fire(); });
  struct disarm_on_exit {
    std::shared_ptr<container_killer> k;
    ~disarm_on_exit() { k->disarm(); }
  } disarm{killer};

  // A cancel that ran its kill before the container existed must not be missed.
  if (cancel.cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled before start";
    return;
  }
  client_.start_container(id);
  std::optional<int> status =
      client_.wait_container(id, spec.timeout, [&cancel] { return cancel.cancelled(); });
  if (!status) {
    // Timed out, or cancelled (the callback usually killed it already).
    r.timed_out = !cancel.cancelled();
    client_.kill_container(id);
    client_.wait_container(id, kill_settle_timeout);
  }

  client_.stream_logs(id, [&out](docker_stream_id s, std::string_view data) {
    if (s == docker_stream_id::stderr_)
      out.err().write(data);
    else if (s == docker_stream_id::stdout_)
      out.out().write(data);
  });
  container_state state = client_.inspect_container(id);
  // The daemon learns of an OOM kill from its own event, which can arrive
  // just after the exit it reports: a SIGKILL exit (137) under a memory limit
  // is looked at again, briefly, before it counts as a plain exit code.
  const bool maybe_oom = status && *status == 137 && options_.sandbox.memory_bytes > 0 && !cancel.cancelled();
  for (int again = 0; maybe_oom && !state.oom_killed && again < 10; ++again) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    state = client_.inspect_container(id);
  }
  r.oom_killed = state.oom_killed;

  if (cancel.cancelled()) {
    r.result = outcome::cancelled;
    r.error = "cancelled";
  } else if (r.timed_out) {
    r.result = outcome::failed;
    r.error = "timed out after " + std::to_string(spec.timeout.count()) + " s";
  } else if (r.oom_killed) {
    r.result = outcome::failed;
    r.exit_code = *status;
    r.error = "out of memory (killed, limit " + std::to_string(options_.sandbox.memory_bytes) + " bytes)";
  } else {
    r.exit_code = *status;
    r.result = *status == 0 ? outcome::completed : outcome::failed;
    if (*status != 0) r.error = "exited with code " + std::to_string(*status);
  }
}

std::vector<std::string> docker_backend::orphaned_jobs(std::uint64_t node_id) {
  std::set<std::string> jobs;
  for (const auto& c : client_.list_containers("troupe.node=" + std::to_string(node_id))) {
    auto owner = c.labels.find("troupe.owner");
    if (owner != c.labels.end() && owner->second != options_.owner) continue;  // another node's, same id
    auto it = c.labels.find("troupe.job");
    if (it != c.labels.end()) jobs.insert(it->second);
  }
  return {jobs.begin(), jobs.end()};
}

void docker_backend::remove_job_artifacts(const std::string& job_id) {
  for (const auto& c : client_.list_containers("troupe.job=" + job_id)) client_.remove_container(c.id);
}

std::unique_ptr<backend> make_docker_backend(docker_options options) {
  return std::make_unique<docker_backend>(std::move(options));
}

}  // namespace troupe::exec
