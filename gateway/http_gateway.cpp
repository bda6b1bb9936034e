#include "gateway/http_gateway.hpp"

#include <httplib.h>

#include <optional>

#include <caf/scoped_actor.hpp>
#include <google/protobuf/util/json_util.h>

#include "config/host_port.hpp"
#include "config/timeouts.hpp"
#include "gateway/dashboard/assets.hpp"
#include "gateway/http_events.hpp"
#include "gateway/http_json.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/metrics.hpp"
#include "service/status_views.hpp"

namespace troupe {
namespace {

using namespace http_json;

// The node service's answer to a blocking request: a value, or why not.
template <class R>
struct answer {
  std::optional<R> value;
  caf::error error;
  explicit operator bool() const { return value.has_value(); }
  R* operator->() { return &*value; }
};

// Blocking request from an HTTP worker thread (httplib is thread-per-request).
template <class R, class... Ts>
answer<R> ask(caf::actor_system& sys, const node_service_actor& service, std::chrono::milliseconds timeout,
              Ts... xs) {
  caf::scoped_actor self{sys};
  answer<R> out;
  self->request(service, timeout, xs...)
      .receive([&](R& r) { out.value = std::move(r); }, [&](caf::error& e) { out.error = std::move(e); });
  return out;
}

void fail(httplib::Response& res, const caf::error& e) { error(res, http_status(e), describe(e).message); }

metrics::counter& http_requests(const std::string& method, int status) {
  return metrics::global().get_counter("troupe_http_requests_total", "HTTP requests answered, by method and status",
                                       {{"method", method}, {"code", std::to_string(status)}});
}

}  // namespace

http_server::http_server(caf::actor_system& sys, config::node_config cfg, node_service_actor service)
    : sys_(sys), cfg_(std::move(cfg)), service_(std::move(service)), server_(std::make_unique<httplib::Server>()),
      stopping_(std::make_shared<std::atomic<bool>>(false)), event_streams_(std::make_shared<std::atomic<int>>(0)) {
  routes();
  auto [host, port] = config::split_host_port(cfg_.http_listen);
  if (!server_->bind_to_port(host, port))
    throw std::runtime_error("cannot listen for HTTP on " + cfg_.http_listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  TLOG(info, "http_gateway") << "REST API, dashboard and /metrics on http://" << cfg_.http_listen << "/";
}

http_server::~http_server() {
  stopping_->store(true);
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void http_server::add(const std::string& pattern, const std::string& method, handler h) {
  for (auto& r : routes_)
    if (r.pattern == pattern) {
      r.methods.emplace_back(method, std::move(h));
      return;
    }
  routes_.push_back({pattern, std::regex(pattern), {{method, std::move(h)}}});
}

void http_server::dispatch(const httplib::Request& req, httplib::Response& res) {
  for (const auto& r : routes_) {
    std::smatch m;
    if (!std::regex_match(req.path, m, r.re)) continue;
    std::string allow;
    for (const auto& [method, h] : r.methods) {
      if (method == req.method || (method == "GET" && req.method == "HEAD")) {
        const_cast<httplib::Request&>(req).matches = m;
        return h(req, res);
      }
      allow += (allow.empty() ? "" : ", ") + method;
    }
    res.set_header("Allow", allow);
    return error(res, 405, "method " + req.method + " is not allowed on " + req.path + "; allowed: " + allow);
  }
  error(res, 404, "no route for " + req.method + " " + req.path);
}

void http_server::routes() {
  auto& s = *server_;
  s.set_payload_max_length(max_body_bytes);
  // SSE streams hold a worker each; keep room for ordinary requests beside them.
  s.new_task_queue = [] { return new httplib::ThreadPool(2 * max_event_streams + 8); };
  auto bind = [this](void (http_server::*fn)(const httplib::Request&, httplib::Response&)) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) { (this->*fn)(req, res); };
  };

  add("/health/live", "GET", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  });
  add("/health/ready", "GET", [this](const httplib::Request&, httplib::Response& res) {
    auto h = ask<node_health>(sys_, service_, config::outer(config::query_timeout), status_atom::value);
    if (h && h->raft.leader_id != 0)
      reply(res, 200, {{"status", "ok"}, {"leader_id", h->raft.leader_id}});
    else
      reply(res, 503, {{"status", "no_leader"}, {"leader_id", nullptr}});
  });
  add("/api/cluster", "GET", bind(&http_server::get_cluster));
  add("/api/jobs", "GET", bind(&http_server::list_jobs));
  add("/api/jobs", "POST", bind(&http_server::post_job));
  add("/api/jobs/([^/]+)", "GET", bind(&http_server::get_job));
  add("/api/jobs/([^/]+)", "DELETE", bind(&http_server::delete_job));
  add("/api/raft/log", "GET", bind(&http_server::raft_log));
  add("/api/leadership/transfer", "POST", bind(&http_server::transfer_leadership));
  add("/api/drain", "POST", bind(&http_server::drain));
  add("/api/undrain", "POST", bind(&http_server::undrain));
  add("/api/topology", "GET", bind(&http_server::topology));
  add("/api/events", "GET", bind(&http_server::events));
  add("/metrics", "GET", bind(&http_server::serve_metrics));
  for (const auto& a : dashboard::assets()) {
    auto serve = [&a](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_header("Cache-Control", "no-cache");
      res.set_content(a.body.data(), a.body.size(), a.content_type);
    };
    add(a.path, "GET", serve);
    if (std::string(a.path) == "/index.html") add("/", "GET", serve);
  }

  auto all = [this](const httplib::Request& req, httplib::Response& res) { dispatch(req, res); };
  s.Get(".*", all);
  s.Post(".*", all);
  s.Put(".*", all);
  s.Patch(".*", all);
  s.Delete(".*", all);
  s.Options(".*", all);

  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 413)
      error(res, 413, "request body is larger than " + std::to_string(max_body_bytes) + " bytes");
    else if (res.body.empty())
      error(res, res.status, "request failed: " + req.method + " " + req.path);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    error(res, 500, msg);
  });
  s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    http_requests(req.method, res.status).inc();
  });
}

// This node's own Raft view and drain state; the nodes' liveness as the
// leader knows it (this node's own when no leader answers).
void http_server::get_cluster(const httplib::Request&, httplib::Response& res) {
  auto h = ask<node_health>(sys_, service_, config::outer(config::query_timeout), status_atom::value);
  if (!h) return fail(res, h.error);
  auto view = ask<scheduler::GetClusterStatusResponse>(sys_, service_, config::forwarded_query_wait(),
                                                       cluster_atom::value, false);
  if (!view)
    view = ask<scheduler::GetClusterStatusResponse>(sys_, service_, config::outer(config::query_timeout),
                                                    cluster_atom::value, true);
  if (!view) return fail(res, view.error);
  const auto& rs = h->raft;
  json nodes = json::array();
  for (const auto& n : view->nodes())
    nodes.push_back({{"node_id", n.node_id()},
                     {"address", n.address()},
                     {"is_alive", n.is_alive()},
                     {"role", n.role()},
                     {"draining", n.draining()},
                     {"executor_ok", n.executor_ok()},
                     {"running_jobs", n.running_jobs()},
                     {"http_address", n.http_address()}});
  reply(res, 200,
        {{"node_id", rs.node_id},
         {"role", views::role_name(rs.role)},
         {"current_term", rs.term},
         {"leader_id", rs.leader_id ? json(rs.leader_id) : json(nullptr)},
         {"commit_index", rs.commit_index},
         {"last_applied", rs.applied_index},
         {"log_length", rs.last_index},
         {"draining", h->draining},
         {"nodes", nodes}});
}

void http_server::post_job(const httplib::Request& req, httplib::Response& res) {
  auto failed = [&](int status, const std::string& msg) {
    reply(res, status, {{"success", false}, {"job_id", nullptr}, {"status", nullptr}, {"error", msg}});
  };
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    return failed(400, std::string("malformed JSON: ") + e.what());
  }
  if (!body.is_object()) return failed(400, "the body must be a JSON object");
  if (!body.contains("command")) return failed(400, "missing field \"command\"");
  if (!body["command"].is_string()) return failed(400, "field \"command\" must be a string");
  if (body.contains("image") && !body["image"].is_null() && !body["image"].is_string())
    return failed(400, "field \"image\" must be a string or null");
  submit_request s;
  s.command = body["command"].get<std::string>();
  if (body.contains("image") && body["image"].is_string()) s.image = body["image"].get<std::string>();
  s.forward = true;
  auto r = ask<proposal_result>(sys_, service_, config::write_wait(cfg_), submit_atom::value, s);
  if (!r) return failed(http_status(r.error), describe(r.error).message);
  reply(res, 200, {{"success", true}, {"job_id", r->job_id}, {"status", "pending"}, {"error", nullptr}});
}

void http_server::delete_job(const httplib::Request& req, httplib::Response& res) {
  auto r = ask<std::uint64_t>(sys_, service_, config::write_wait(cfg_), cancel_atom::value, req.matches[1].str(), true);
  if (!r) return fail(res, r.error);
  reply(res, 200, {{"success", true}, {"error", nullptr}});
}

void http_server::list_jobs(const httplib::Request& req, httplib::Response& res) {
  jobs::list_query q;
  auto param = [&](const char* k) { return req.has_param(k) ? req.get_param_value(k) : std::string(); };
  if (auto v = param("page_size"); !v.empty()) {
    auto n = parse_u64(v);
    if (!n) return error(res, 400, "page_size must be a non-negative integer, got \"" + v.substr(0, 32) + "\"");
    q.page_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, jobs::max_page_size));
  }
  q.page_token = param("page_token");
  if (auto v = param("status"); !v.empty()) {
    auto st = jobs::parse_status(v);
    if (!st) return error(res, 400, "unknown status \"" + v.substr(0, 32) + "\"");
    q.status = *st;
  }
  if (auto v = param("worker"); !v.empty()) {
    auto n = parse_u64(v);
    if (!n) return error(res, 400, "worker must be a node id, got \"" + v.substr(0, 32) + "\"");
    q.worker = *n;
  }
  q.command_substring = param("command");
  for (auto [k, dst] :
       {std::pair{"created_after_ms", &q.created_after_ms}, std::pair{"created_before_ms", &q.created_before_ms}}) {
    if (auto v = param(k); !v.empty()) {
      auto n = parse_u64(v);
      if (!n) return error(res, 400, std::string(k) + " must be milliseconds since the epoch, got \"" + v.substr(0, 32) + "\"");
      *dst = static_cast<std::int64_t>(*n);
    }
  }
  auto l = ask<jobs::list_result>(sys_, service_, config::outer(config::query_timeout), list_atom::value, q);
  if (!l) return fail(res, l.error);
  json arr = json::array();
  for (const auto& j : l->jobs) arr.push_back(job_json(j));
  res.set_header("X-Total-Count", std::to_string(l->total_count));
  if (!l->next_page_token.empty()) res.set_header("X-Next-Page-Token", l->next_page_token);
  res.set_header("Access-Control-Expose-Headers", "X-Total-Count, X-Next-Page-Token");
  reply(res, 200, arr);
}

void http_server::get_job(const httplib::Request& req, httplib::Response& res) {
  auto d = ask<job_detail>(sys_, service_, config::write_wait(cfg_), get_atom::value, req.matches[1].str(), false);
  if (!d) return fail(res, d.error);
  auto j = job_json(d->job);
  j["stderr"] = d->job.stderr_inline;
  if (d->output.found) {
    j["output"] = d->output.stdout_data;
    j["stderr"] = d->output.stderr_data;
    j["output_truncated"] = d->output.truncated;
  }
  reply(res, 200, j);
}

void http_server::raft_log(const httplib::Request& req, httplib::Response& res) {
  std::uint64_t start = 0, limit = 100;
  if (req.has_param("start_index")) {
    auto v = req.get_param_value("start_index");
    auto n = parse_u64(v);
    if (!n) return error(res, 400, "start_index must be a non-negative integer, got \"" + v.substr(0, 32) + "\"");
    start = *n;
  }
  if (req.has_param("limit")) {
    auto v = req.get_param_value("limit");
    auto n = parse_u64(v);
    if (!n || *n == 0 || *n > max_log_page)
      return error(res, 400, "limit must be an integer from 1 to " + std::to_string(max_log_page) + ", got \"" +
                                 v.substr(0, 32) + "\"");
    limit = *n;
  }
  auto out = ask<scheduler::GetRaftLogEntriesResponse>(sys_, service_, config::forwarded_query_wait(), log_atom::value,
                                                       start, static_cast<std::uint32_t>(limit), false);
  if (!out) return fail(res, out.error);
  json entries = json::array();
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  for (const auto& e : out->entries()) {
    json command = nullptr;
    if (e.has_command()) {
      std::string text;
      if (google::protobuf::util::MessageToJsonString(e.command(), &text, opts).ok()) command = json::parse(text);
    }
    entries.push_back({{"index", e.index()},
                       {"term", e.term()},
                       {"kind", e.kind()},
                       {"is_committed", e.is_committed()},
                       {"command", command}});
  }
  reply(res, 200,
        {{"commit_index", out->commit_index()},
         {"last_log_index", out->last_log_index()},
         {"first_available_index", out->first_available_index()},
         {"entries", entries}});
}

void http_server::transfer_leadership(const httplib::Request& req, httplib::Response& res) {
  auto body = object_body(req, res, true);
  if (!body) return;
  std::uint64_t target = 0;
  if (body->contains("target_node_id") && !(*body)["target_node_id"].is_null()) {
    const auto& t = (*body)["target_node_id"];
    if (!t.is_number_unsigned())
      return error(res, 400, "field \"target_node_id\" must be a non-negative integer (0 = best follower)");
    target = t.get<std::uint64_t>();
  }
  auto r = ask<std::uint64_t>(sys_, service_, config::transfer_request_wait(cfg_), transfer_atom::value, target, true);
  if (!r) {
    auto msg = describe(r.error).message;
    return reply(res, http_status(r.error),
                 {{"success", false}, {"new_leader_id", nullptr}, {"message", msg}, {"error", msg}});
  }
  reply(res, 200,
        {{"success", true},
         {"new_leader_id", *r.value},
         {"message", "node " + std::to_string(*r.value) + " is now the leader"},
         {"error", nullptr}});
}

void http_server::drain(const httplib::Request& req, httplib::Response& res) {
  if (!object_body(req, res, true)) return;
  auto d = ask<drain_result>(sys_, service_, config::outer(config::drain_wait(cfg_)), drain_atom::value);
  if (!d) return fail(res, d.error);
  reply(res, 200, {{"success", true}, {"timed_out", d->timed_out}, {"message", d->message}, {"error", nullptr}});
}

void http_server::undrain(const httplib::Request& req, httplib::Response& res) {
  if (!object_body(req, res, true)) return;
  auto m = ask<std::string>(sys_, service_, config::outer(config::drain_entry_wait(cfg_)), undrain_atom::value);
  if (!m) return fail(res, m.error);
  reply(res, 200, {{"success", true}, {"timed_out", false}, {"message", *m.value}, {"error", nullptr}});
}

void http_server::topology(const httplib::Request&, httplib::Response& res) {
  auto t = ask<troupe::topology>(sys_, service_, config::outer(config::query_timeout), topology_atom::value);
  if (!t) return fail(res, t.error);
  json actors = json::array();
  for (const auto& e : t->actors)
    actors.push_back({{"name", e.name},
                      {"actor_id", e.actor_id ? json(e.actor_id) : json(nullptr)},
                      {"parent", e.parent},
                      {"links", e.monitors},
                      {"detail", e.detail}});
  reply(res, 200, {{"node_id", cfg_.id}, {"actors", actors}});
}

void http_server::events(const httplib::Request&, httplib::Response& res) {
  if (event_streams_->fetch_add(1) >= max_event_streams) {
    event_streams_->fetch_sub(1);
    return error(res, 503, "too many event streams open (limit " + std::to_string(max_event_streams) + ")");
  }
  serve_events(sys_, service_, res, stopping_, event_streams_);
}

void http_server::serve_metrics(const httplib::Request&, httplib::Response& res) {
  auto& reg = troupe::metrics::global();
  // Raft and job figures are read from the node at scrape time.
  if (auto h = ask<node_health>(sys_, service_, config::outer(config::query_timeout), status_atom::value)) {
    const auto* rs = &h->raft;
    reg.get_gauge("troupe_raft_term", "Current Raft term").set(static_cast<double>(rs->term));
    for (auto r : {raft::role::follower, raft::role::pre_candidate, raft::role::candidate, raft::role::leader})
      reg.get_gauge("troupe_raft_role", "1 for the role this node has, 0 for the others",
                    {{"role", views::role_name(r)}})
          .set(rs->role == r ? 1 : 0);
    reg.get_gauge("troupe_raft_leader_id", "Node id of the known leader (0 = none)").set(static_cast<double>(rs->leader_id));
    reg.get_gauge("troupe_raft_commit_index", "Highest log index known committed").set(static_cast<double>(rs->commit_index));
    reg.get_gauge("troupe_raft_applied_index", "Highest log index applied to the job table")
        .set(static_cast<double>(rs->applied_index));
    reg.get_gauge("troupe_raft_last_index", "Last index of the local Raft log").set(static_cast<double>(rs->last_index));
    reg.get_gauge("troupe_raft_proposals_pending", "Proposals awaiting commit").set(static_cast<double>(rs->pending));
    // Counted by raft_node since the process started; exposed as gauges
    // because their source is a snapshot, not an increment here.
    reg.get_gauge("troupe_raft_proposals_accepted", "Proposals accepted since the process started")
        .set(static_cast<double>(rs->proposals));
    reg.get_gauge("troupe_raft_elections_started", "Elections this node started since the process started")
        .set(static_cast<double>(rs->elections));
    reg.get_gauge("troupe_node_draining", "1 while this node is draining").set(h->draining ? 1 : 0);
    const auto* ts = &h->jobs;
    for (const auto& [status, n] : ts->by_status)
      reg.get_gauge("troupe_jobs", "Jobs in the job table, by status", {{"status", status}}).set(static_cast<double>(n));
    reg.get_gauge("troupe_jobs_total_known", "Jobs in the job table").set(static_cast<double>(ts->total));
    reg.get_gauge("troupe_job_queue_depth", "Active (not yet terminal) jobs").set(static_cast<double>(ts->active));
  }
  res.status = 200;
  res.set_content(reg.render(), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace troupe
