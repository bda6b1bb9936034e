#include "runtime/exec/docker_client.hpp"

#include <sstream>

#include "runtime/common/metrics.hpp"

namespace troupe::exec {

namespace {

// The daemon answers errors as {"message": "..."}; fall back to the raw body.
std::string daemon_message_of(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  std::string trimmed = body;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) trimmed.pop_back();
  return trimmed;
}

nlohmann::json parse_json(const std::string& what, const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) throw docker_error(what + ": daemon sent invalid JSON: " + body.substr(0, 200), 200, "");
  return j;
}

}  // namespace

std::pair<std::string, std::string> split_image_reference(std::string_view image) {
  auto at = image.find('@');
  if (at != std::string_view::npos) return {std::string(image), ""};
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    return {std::string(image.substr(0, colon)), std::string(image.substr(colon + 1))};
  return {std::string(image), "latest"};
}

nlohmann::json container_create_body(const container_config& config) {
  const sandbox_options& s = config.sandbox;
  nlohmann::json host = {
      {"NetworkMode", s.network},
      {"Memory", s.memory_bytes},
      {"MemorySwap", s.memory_bytes},  // equal to Memory: no swap on top
      {"NanoCpus", s.nano_cpus},
      {"PidsLimit", s.pids_limit},
      {"ReadonlyRootfs", s.read_only_rootfs},
  };
  if (s.drop_all_capabilities) host["CapDrop"] = {"ALL"};
  if (s.no_new_privileges) host["SecurityOpt"] = {"no-new-privileges"};
  return {
      {"Image", config.image},
      {"Cmd", config.cmd},
      {"Labels", config.labels},
      {"AttachStdin", false},
      {"AttachStdout", false},
      {"AttachStderr", false},
      {"Tty", false},  // keeps logs multiplexed, so stdout and stderr stay apart
      {"NetworkDisabled", s.network == "none"},
      {"HostConfig", host},
  };
}

docker_client::docker_client(std::string socket_path, std::string api_version)
    : http_(std::move(socket_path)), api_version_(std::move(api_version)) {}

http_response docker_client::call(const std::string& what, http_request req, bool allow_failure) const {
  http_response r = http_.perform(req);
  bool failed = !r.connected || (!r.transport_error.empty() && !r.timed_out && !r.aborted) ||
                (!allow_failure && !r.timed_out && !r.aborted && !r.ok());
  if (failed)
    metrics::global().get_counter("troupe_docker_api_errors_total", "Docker Engine API requests that failed").inc();
  if (!r.connected)
    throw docker_error("docker daemon unreachable at " + http_.socket_path() + ": " + r.transport_error, 0, "");
  if (!r.transport_error.empty() && !r.timed_out && !r.aborted)
    throw docker_error(what + ": " + r.transport_error, r.status, "");
  if (!allow_failure && !r.timed_out && !r.aborted && !r.ok()) {
    std::string msg = daemon_message_of(r.body);
    throw docker_error(what + ": HTTP " + std::to_string(r.status) + ": " + msg, r.status, msg);
  }
  return r;
}

bool docker_client::ping() const {
  http_request req;
  req.target = "/_ping";
  req.timeout = std::chrono::seconds(5);
  http_response r = http_.perform(req);
  return r.ok() && r.body == "OK";
}

nlohmann::json docker_client::version() const {
  http_request req;
  req.target = api("/version");
  req.timeout = std::chrono::seconds(10);
  return parse_json("GET /version", call("GET /version", req).body);
}

std::string docker_client::create_container(const container_config& config) const {
  http_request req;
  req.method = "POST";
  req.target = api("/containers/create");
  req.body = container_create_body(config).dump();
  req.timeout = std::chrono::seconds(60);
  auto j = parse_json("create container", call("create container from " + config.image, req).body);
  if (!j.contains("Id") || !j["Id"].is_string())
    throw docker_error("create container: no Id in daemon reply", 201, "");
  return j["Id"].get<std::string>();
}

void docker_client::start_container(const std::string& id) const {
  http_request req;
  req.method = "POST";
  req.target = api("/containers/" + id + "/start");
  req.timeout = std::chrono::seconds(60);
  call("start container " + id.substr(0, 12), req);
}

std::optional<int> docker_client::wait_container(const std::string& id, std::chrono::milliseconds timeout,
                                                 const std::function<bool()>& should_abort) const {
  http_request req;
  req.method = "POST";
  req.target = api("/containers/" + id + "/wait?condition=not-running");
  req.timeout = timeout;
  req.should_abort = should_abort;
  http_response r = call("wait for container " + id.substr(0, 12), req);
  if (r.timed_out || r.aborted) return std::nullopt;
  auto j = parse_json("wait for container", r.body);
  if (j.contains("Error") && j["Error"].is_object() && j["Error"].contains("Message"))
    throw docker_error("wait for container " + id.substr(0, 12) + ": " + j["Error"]["Message"].dump(), r.status,
                       j["Error"]["Message"].dump());
  return j.value("StatusCode", -1);
}

void docker_client::stream_logs(const std::string& id, const docker_stream_demuxer::sink& sink) const {
  docker_stream_demuxer demuxer(sink);
  bool malformed = false;
  http_request req;
  req.target = api("/containers/" + id + "/logs?stdout=1&stderr=1&follow=0");
  req.timeout = std::chrono::minutes(5);
  // Error replies are JSON, not frames: collect those instead of demuxing them.
  std::string raw_error;
  req.on_body = [&](std::string_view chunk) {
    if (malformed) return;
    if (!demuxer.feed(chunk)) {
      malformed = true;
      raw_error.assign(chunk.substr(0, 200));
    }
  };
  http_response r = call("logs of container " + id.substr(0, 12), req, true);
  if (r.timed_out) throw docker_error("logs of container " + id.substr(0, 12) + ": timed out", r.status, "");
  if (!r.ok()) {
    std::string msg = daemon_message_of(raw_error);
    throw docker_error("logs of container " + id.substr(0, 12) + ": HTTP " + std::to_string(r.status) + ": " + msg,
                       r.status, msg);
  }
  if (malformed) throw docker_error("logs of container " + id.substr(0, 12) + ": " + demuxer.error(), r.status, "");
}

std::pair<std::string, std::string> docker_client::logs(const std::string& id) const {
  std::pair<std::string, std::string> out;
  stream_logs(id, [&](docker_stream_id s, std::string_view data) {
    (s == docker_stream_id::stderr_ ? out.second : out.first).append(data);
  });
  return out;
}

void docker_client::kill_container(const std::string& id) const {
  http_request req;
  req.method = "POST";
  req.target = api("/containers/" + id + "/kill?signal=SIGKILL");
  req.timeout = std::chrono::seconds(30);
  http_response r = call("kill container " + id.substr(0, 12), req, true);
  if (r.ok() || r.status == 404 || r.status == 409) return;
  std::string msg = daemon_message_of(r.body);
  throw docker_error("kill container " + id.substr(0, 12) + ": HTTP " + std::to_string(r.status) + ": " + msg,
                     r.status, msg);
}

void docker_client::remove_container(const std::string& id) const {
  http_request req;
  req.method = "DELETE";
  req.target = api("/containers/" + id + "?force=1&v=1");
  req.timeout = std::chrono::seconds(60);
  http_response r = call("remove container " + id.substr(0, 12), req, true);
  if (r.ok() || r.status == 404) return;
  std::string msg = daemon_message_of(r.body);
  throw docker_error("remove container " + id.substr(0, 12) + ": HTTP " + std::to_string(r.status) + ": " + msg,
                     r.status, msg);
}

container_state docker_client::inspect_container(const std::string& id) const {
  http_request req;
  req.target = api("/containers/" + id + "/json");
  req.timeout = std::chrono::seconds(30);
  auto j = parse_json("inspect container", call("inspect container " + id.substr(0, 12), req).body);
  container_state s;
  const auto& st = j.at("State");
  s.status = st.value("Status", "");
  s.running = st.value("Running", false);
  s.oom_killed = st.value("OOMKilled", false);
  s.exit_code = st.value("ExitCode", 0);
  return s;
}

std::optional<nlohmann::json> docker_client::inspect_image(const std::string& image) const {
  http_request req;
  req.target = api("/images/" + image + "/json");
  req.timeout = std::chrono::seconds(30);
  http_response r = call("inspect image " + image, req, true);
  if (r.status == 404) return std::nullopt;
  if (!r.ok()) {
    std::string msg = daemon_message_of(r.body);
    throw docker_error("inspect image " + image + ": HTTP " + std::to_string(r.status) + ": " + msg, r.status, msg);
  }
  return parse_json("inspect image", r.body);
}

void docker_client::pull_image(const std::string& image) const {
  auto [name, tag] = split_image_reference(image);
  http_request req;
  req.method = "POST";
  req.target = api("/images/create?fromImage=" + url_encode(name));
  if (!tag.empty()) req.target += "&tag=" + url_encode(tag);
  req.timeout = std::chrono::minutes(10);
  http_response r = call("pull image " + image, req, true);
  if (!r.ok()) {
    std::string msg = daemon_message_of(r.body);
    throw docker_error("pull image " + image + ": " + msg, r.status, msg);
  }
  // A 200 reply is a stream of JSON progress lines; a failure mid-way is a line
  // carrying "error".
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("error")) {
      std::string msg = j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
      throw docker_error("pull image " + image + ": " + msg, r.status, msg);
    }
  }
}

std::vector<container_summary> docker_client::list_containers(const std::string& label_filter) const {
  nlohmann::json filters = {{"label", {label_filter}}};
  http_request req;
  req.target = api("/containers/json?all=1&filters=" + url_encode(filters.dump()));
  req.timeout = std::chrono::seconds(30);
  auto j = parse_json("list containers", call("list containers", req).body);
  std::vector<container_summary> out;
  for (const auto& c : j) {
    container_summary s;
    s.id = c.value("Id", "");
    s.state = c.value("State", "");
    if (c.contains("Labels") && c["Labels"].is_object())
      for (auto it = c["Labels"].begin(); it != c["Labels"].end(); ++it)
        if (it.value().is_string()) s.labels[it.key()] = it.value().get<std::string>();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace troupe::exec
