#include "gateway/http_gateway.hpp"

#include <httplib.h>

#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "config/host_port.hpp"
#include "gateway/views.hpp"
#include "runtime/common/log.hpp"
#include "runtime/exec/backend.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/jobs/rfc3339.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
constexpr auto query_timeout = milliseconds(5000);
constexpr std::size_t max_body_bytes = 64 * 1024;

// Blocking request from an HTTP worker thread (httplib is thread-per-request).
template <class R, class Handle, class... Ts>
std::optional<R> call(caf::actor_system& sys, const Handle& h, milliseconds timeout, std::string& err, Ts... xs) {
  caf::scoped_actor self{sys};
  std::optional<R> out;
  self->request(h, timeout, xs...).receive([&](R& r) { out = std::move(r); },
                                           [&](caf::error& e) { err = sys.render(e); });
  return out;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& msg) {
  reply(res, status, json{{"success", false}, {"error", msg}});
}

int http_status(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::INVALID_ARGUMENT: return 400;
    case grpc::StatusCode::FAILED_PRECONDITION: return 400;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 503;
  }
}

json nullable_time(const std::optional<std::int64_t>& ns) {
  return ns ? json(jobs::format_rfc3339_ns(*ns)) : json(nullptr);
}

json job_json(const jobs::job& j) {
  json o{{"id", j.id},
         {"command", j.command},
         {"status", jobs::to_string(j.status)},
         {"executed_by", j.executed_by ? json(j.executed_by) : json(nullptr)},
         {"output", j.stdout_inline},
         {"error", j.error.empty() ? json(nullptr) : json(j.error)},
         {"created_at", jobs::format_rfc3339_ns(j.created_at_ns)},
         {"completed_at", nullable_time(j.completed_at_ns)},
         {"started_at", nullable_time(j.started_at_ns)},
         {"image", j.image.empty() ? json(nullptr) : json(j.image)},
         {"assigned_worker", j.assigned_worker ? json(j.assigned_worker) : json(nullptr)},
         {"exit_code", j.exit_code ? json(*j.exit_code) : json(nullptr)},
         {"attempts", j.attempts},
         {"output_truncated", j.output_truncated}};
  return o;
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoull(s);
}

}  // namespace

http_server::http_server(caf::actor_system& sys, config::node_config cfg, node_handles nodes,
                         std::shared_ptr<const peer_clients> peers)
    : sys_(sys), cfg_(std::move(cfg)), nodes_(std::move(nodes)), peers_(std::move(peers)),
      server_(std::make_unique<httplib::Server>()) {
  routes();
  auto [host, port] = config::split_host_port(cfg_.http_listen);
  if (!server_->bind_to_port(host, port))
    throw std::runtime_error("cannot listen for HTTP on " + cfg_.http_listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  TLOG(info, "http_gateway") << "REST API and dashboard on http://" << cfg_.http_listen << "/";
}

http_server::~http_server() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void http_server::routes() {
  auto& s = *server_;
  s.set_payload_max_length(max_body_bytes);

  s.Get("/health/live", [](const httplib::Request&, httplib::Response& res) { reply(res, 200, {{"status", "ok"}}); });

  s.Get("/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    std::string err;
    auto rs = call<raft_status>(sys_, nodes_.raft, query_timeout, err, status_atom::value);
    if (rs && rs->leader_id != 0)
      reply(res, 200, {{"status", "ok"}, {"leader_id", rs->leader_id}});
    else
      reply(res, 503, {{"status", "no_leader"}, {"leader_id", nullptr}});
  });

  s.Get("/api/cluster", [this](const httplib::Request&, httplib::Response& res) {
    std::string err;
    auto rs = call<raft_status>(sys_, nodes_.raft, query_timeout, err, status_atom::value);
    auto wl = call<worker_list>(sys_, nodes_.tracker, query_timeout, err, workers_atom::value);
    if (!rs || !wl) return error(res, 503, "node is not answering: " + err);
    auto view = views::cluster_status(cfg_, *rs, *wl);
    // Liveness is the leader's knowledge (heartbeats go there): ask it.
    if (rs->role != raft::role::leader && rs->leader_id != 0) {
      if (auto* stub = peers_->scheduler(rs->leader_id)) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
        scheduler::GetClusterStatusResponse leader_view;
        if (stub->GetClusterStatus(&ctx, {}, &leader_view).ok()) *view.mutable_nodes() = leader_view.nodes();
      }
    }
    json nodes = json::array();
    for (const auto& n : view.nodes())
      nodes.push_back({{"node_id", n.node_id()},
                       {"address", n.address()},
                       {"is_alive", n.is_alive()},
                       {"role", n.role()},
                       {"draining", n.draining()},
                       {"executor_ok", n.executor_ok()},
                       {"running_jobs", n.running_jobs()},
                       {"http_address", n.http_address()}});
    reply(res, 200,
          {{"node_id", rs->node_id},
           {"role", views::role_name(rs->role)},
           {"current_term", rs->term},
           {"leader_id", rs->leader_id ? json(rs->leader_id) : json(nullptr)},
           {"commit_index", rs->commit_index},
           {"last_applied", rs->applied_index},
           {"log_length", rs->last_index},
           {"nodes", nodes}});
  });

  s.Post("/api/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception& e) {
      return error(res, 400, std::string("malformed JSON: ") + e.what());
    }
    if (!body.is_object()) return error(res, 400, "the body must be a JSON object");
    if (!body.contains("command")) return error(res, 400, "missing field \"command\"");
    if (!body["command"].is_string()) return error(res, 400, "field \"command\" must be a string");
    if (body.contains("image") && !body["image"].is_null() && !body["image"].is_string())
      return error(res, 400, "field \"image\" must be a string");
    scheduler::SubmitJobRequest sreq;
    sreq.set_command(body["command"].get<std::string>());
    if (body.contains("image") && body["image"].is_string()) sreq.set_image(body["image"].get<std::string>());
    auto bad = views::check_command(sreq.command(), cfg_.jobs.max_command_bytes);
    if (bad.empty() && sreq.has_image()) bad = views::check_image(sreq.image());
    if (!bad.empty()) return error(res, 400, bad);
    // Submit through this node's own gRPC service: one code path for both
    // APIs, and a follower answers with the leader to forward to.
    auto submit = [&](const std::string& addr, scheduler::SubmitJobResponse& out, grpc::Status& st) {
      auto ch = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
      auto stub = scheduler::SchedulerService::NewStub(ch);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(cfg_.raft.commit_deadline_ms + 3000));
      st = stub->SubmitJob(&ctx, sreq, &out);
      auto md = ctx.GetServerTrailingMetadata();
      auto it = md.find("leader-address");
      return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
    };
    scheduler::SubmitJobResponse out;
    grpc::Status st;
    auto local = cfg_.advertise_addr.empty() ? cfg_.self().address : cfg_.advertise_addr;
    auto leader_addr = submit(local, out, st);
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION && !leader_addr.empty()) {
      out.Clear();
      submit(leader_addr, out, st);
    } else if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      return reply(res, 503, {{"success", false}, {"job_id", nullptr}, {"status", nullptr}, {"error", st.error_message()}});
    }
    if (!st.ok())
      return reply(res, http_status(st.error_code()),
                   {{"success", false}, {"job_id", nullptr}, {"status", nullptr}, {"error", st.error_message()}});
    reply(res, 200, {{"success", true}, {"job_id", out.job_id()}, {"status", "pending"}, {"error", nullptr}});
  });

  s.Delete(R"(/api/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = req.matches[1].str();
    auto bad = views::check_job_id(id);
    if (!bad.empty()) return error(res, 400, bad);
    scheduler::CancelJobRequest creq;
    creq.set_job_id(id);
    auto cancel = [&](const std::string& addr, scheduler::CancelJobResponse& out, grpc::Status& st) {
      auto stub = scheduler::SchedulerService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(cfg_.raft.commit_deadline_ms + 3000));
      st = stub->CancelJob(&ctx, creq, &out);
      auto md = ctx.GetServerTrailingMetadata();
      auto it = md.find("leader-address");
      return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
    };
    scheduler::CancelJobResponse out;
    grpc::Status st;
    auto local = cfg_.advertise_addr.empty() ? cfg_.self().address : cfg_.advertise_addr;
    auto leader_addr = cancel(local, out, st);
    if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION && !leader_addr.empty()) cancel(leader_addr, out, st);
    else if (st.error_code() == grpc::StatusCode::FAILED_PRECONDITION && st.error_message().rfind("Not the leader", 0) == 0)
      return error(res, 503, st.error_message());
    if (!st.ok()) return error(res, http_status(st.error_code()), st.error_message());
    reply(res, 200, {{"success", true}, {"error", nullptr}});
  });

  s.Get("/api/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    jobs::list_query q;
    auto param = [&](const char* k) { return req.has_param(k) ? req.get_param_value(k) : std::string(); };
    if (auto v = param("page_size"); !v.empty()) {
      auto n = parse_u64(v);
      if (!n) return error(res, 400, "page_size must be a non-negative integer");
      q.page_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, 1000));
    }
    q.page_token = param("page_token");
    if (auto v = param("status"); !v.empty()) {
      auto st = jobs::parse_status(v);
      if (!st) return error(res, 400, "unknown status \"" + v + "\"");
      q.status = *st;
    }
    if (auto v = param("worker"); !v.empty()) {
      auto n = parse_u64(v);
      if (!n) return error(res, 400, "worker must be a node id");
      q.worker = *n;
    }
    q.command_substring = param("command");
    for (auto [k, dst] : {std::pair{"created_after_ms", &q.created_after_ms}, std::pair{"created_before_ms", &q.created_before_ms}}) {
      if (auto v = param(k); !v.empty()) {
        auto n = parse_u64(v);
        if (!n) return error(res, 400, std::string(k) + " must be milliseconds since the epoch");
        *dst = static_cast<std::int64_t>(*n);
      }
    }
    std::string err;
    auto l = call<list_reply>(sys_, nodes_.table, query_timeout, err, list_atom::value, list_request{q});
    if (!l) return error(res, 503, "node is not answering: " + err);
    if (!l->error.empty()) return error(res, 400, l->error);
    json arr = json::array();
    for (const auto& j : l->result.jobs) arr.push_back(job_json(j));
    res.set_header("X-Total-Count", std::to_string(l->result.total_count));
    if (!l->result.next_page_token.empty()) res.set_header("X-Next-Page-Token", l->result.next_page_token);
    reply(res, 200, arr);
  });

  s.Get(R"(/api/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = req.matches[1].str();
    auto bad = views::check_job_id(id);
    if (!bad.empty()) return error(res, 400, bad);
    std::string err;
    auto l = call<job_lookup>(sys_, nodes_.table, query_timeout, err, get_atom::value, id);
    if (!l) return error(res, 503, "node is not answering: " + err);
    if (!l->found) return error(res, 404, "job " + id + " not found");
    auto j = job_json(l->job);
    j["stderr"] = l->job.stderr_inline;
    if (l->job.output_truncated && l->job.executed_by != 0) {
      // The full output lives on the node that ran the job.
      if (l->job.executed_by == cfg_.id) {
        auto out = exec::read_output(cfg_.data_dir + "/outputs", id);
        if (out.found) {
          j["output"] = out.stdout_data;
          j["stderr"] = out.stderr_data;
          j["output_truncated"] = out.truncated;
        }
      } else if (auto* stub = peers_->internal(l->job.executed_by)) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
        internalpb::GetJobOutputRequest oreq;
        oreq.set_job_id(id);
        internalpb::GetJobOutputResponse out;
        if (stub->GetJobOutput(&ctx, oreq, &out).ok() && out.found()) {
          j["output"] = out.stdout_data();
          j["stderr"] = out.stderr_data();
          j["output_truncated"] = out.truncated();
        }
      }
    }
    reply(res, 200, j);
  });

  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) error(res, 404, "no route for " + req.method + " " + req.path);
    else if (res.status == 413) error(res, 413, "request body is larger than " + std::to_string(max_body_bytes) + " bytes");
    else if (res.body.empty()) error(res, res.status, "request failed");
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
    }
    error(res, 500, msg);
  });
}

}  // namespace troupe
