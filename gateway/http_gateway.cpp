#include "gateway/http_gateway.hpp"

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>

#include <caf/scoped_actor.hpp>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "config/host_port.hpp"
#include "gateway/dashboard/assets.hpp"
#include "gateway/views.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/metrics.hpp"
#include "runtime/exec/output_store.hpp"
#include "runtime/jobs/rfc3339.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
constexpr auto query_timeout = milliseconds(5000);
constexpr char not_leader_prefix[] = "Not the leader";

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

bool is_not_leader(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
         st.error_message().rfind(not_leader_prefix, 0) == 0;
}

// gRPC status -> HTTP status. "Not the leader" here means no leader could be
// reached (a known leader is forwarded to), which is 503, not a client error.
int http_status(const grpc::Status& st) {
  if (is_not_leader(st)) return 503;
  switch (st.error_code()) {
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
  return json{{"id", j.id},
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
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoull(s);
}

// Parses a request body that must be a JSON object; an empty body counts as
// {} when allow_empty. On failure answers 400 and returns nullopt.
std::optional<json> object_body(const httplib::Request& req, httplib::Response& res, bool allow_empty) {
  if (allow_empty && req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    error(res, 400, std::string("malformed JSON: ") + e.what());
    return std::nullopt;
  }
  if (!body.is_object()) {
    error(res, 400, "the body must be a JSON object");
    return std::nullopt;
  }
  return body;
}

std::string leader_id_of(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find("leader-id");
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// One SSE stream: a change_listener actor fills the queue, the httplib
// worker thread drains it. Shared so neither side outlives the other's data.
struct event_stream {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> queue;  // complete "event: ...\ndata: ...\n\n" frames
  bool overflow = false;
  static constexpr std::size_t max_backlog = 10000;

  void push(std::string frame) {
    {
      std::lock_guard<std::mutex> g(mu);
      if (queue.size() >= max_backlog) {
        overflow = true;
        return;
      }
      queue.push_back(std::move(frame));
    }
    cv.notify_one();
  }
};

std::string sse_frame(const char* event, const json& data) {
  return std::string("event: ") + event + "\ndata: " + data.dump() + "\n\n";
}

const char* change_name(jobs::change_kind k) {
  switch (k) {
    case jobs::change_kind::created: return "created";
    case jobs::change_kind::updated: return "updated";
    case jobs::change_kind::evicted: return "evicted";
  }
  return "unknown";
}

metrics::counter& http_requests(const std::string& method, int status) {
  return metrics::global().get_counter("troupe_http_requests_total", "HTTP requests answered, by method and status",
                                       {{"method", method}, {"code", std::to_string(status)}});
}

}  // namespace

http_server::http_server(caf::actor_system& sys, config::node_config cfg, node_handles nodes,
                         std::shared_ptr<const peer_clients> peers)
    : sys_(sys), cfg_(std::move(cfg)), nodes_(std::move(nodes)), peers_(std::move(peers)),
      server_(std::make_unique<httplib::Server>()), stopping_(std::make_shared<std::atomic<bool>>(false)),
      event_streams_(std::make_shared<std::atomic<int>>(0)) {
  auto local = cfg_.advertise_addr.empty() ? cfg_.self().address : cfg_.advertise_addr;
  local_stub_ = scheduler::SchedulerService::NewStub(grpc::CreateChannel(local, grpc::InsecureChannelCredentials()));
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
    std::string err;
    auto rs = call<raft_status>(sys_, nodes_.raft, query_timeout, err, status_atom::value);
    if (rs && rs->leader_id != 0)
      reply(res, 200, {{"status", "ok"}, {"leader_id", rs->leader_id}});
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

void http_server::get_cluster(const httplib::Request&, httplib::Response& res) {
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
         {"draining", rs->draining},
         {"nodes", nodes}});
}

namespace {

// Runs a SchedulerService call on this node; when it answers "Not the leader"
// naming a leader, runs it once more on that leader, so a follower answers
// writes as if the leader had been asked.
template <class Resp, class Rpc>
grpc::Status on_leader(scheduler::SchedulerService::Stub& local, const peer_clients& peers, milliseconds deadline,
                       Resp& out, Rpc rpc) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto st = rpc(local, ctx, out);
  if (!is_not_leader(st)) return st;
  auto leader = parse_u64(leader_id_of(ctx));
  if (!leader || *leader == 0) return st;
  auto* stub = peers.scheduler(*leader);
  if (!stub) return st;
  grpc::ClientContext fwd;
  fwd.set_deadline(std::chrono::system_clock::now() + deadline);
  out = Resp{};
  return rpc(*stub, fwd, out);
}

}  // namespace

void http_server::post_job(const httplib::Request& req, httplib::Response& res) {
  auto fail = [&](int status, const std::string& msg) {
    reply(res, status, {{"success", false}, {"job_id", nullptr}, {"status", nullptr}, {"error", msg}});
  };
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    return fail(400, std::string("malformed JSON: ") + e.what());
  }
  if (!body.is_object()) return fail(400, "the body must be a JSON object");
  if (!body.contains("command")) return fail(400, "missing field \"command\"");
  if (!body["command"].is_string()) return fail(400, "field \"command\" must be a string");
  if (body.contains("image") && !body["image"].is_null() && !body["image"].is_string())
    return fail(400, "field \"image\" must be a string or null");
  scheduler::SubmitJobRequest sreq;
  sreq.set_command(body["command"].get<std::string>());
  if (body.contains("image") && body["image"].is_string() && !body["image"].get<std::string>().empty())
    sreq.set_image(body["image"].get<std::string>());
  auto bad = views::check_command(sreq.command(), cfg_.jobs.max_command_bytes);
  if (bad.empty() && sreq.has_image()) bad = views::check_image(sreq.image());
  if (!bad.empty()) return fail(400, bad);
  scheduler::SubmitJobResponse out;
  auto st = on_leader(*local_stub_, *peers_, milliseconds(cfg_.raft.commit_deadline_ms + 3000), out,
                      [&](scheduler::SchedulerService::Stub& stub, grpc::ClientContext& ctx, auto& o) {
                        return stub.SubmitJob(&ctx, sreq, &o);
                      });
  if (!st.ok()) return fail(http_status(st), st.error_message());
  reply(res, 200, {{"success", true}, {"job_id", out.job_id()}, {"status", "pending"}, {"error", nullptr}});
}

void http_server::delete_job(const httplib::Request& req, httplib::Response& res) {
  auto id = req.matches[1].str();
  auto bad = views::check_job_id(id);
  if (!bad.empty()) return error(res, 400, bad);
  scheduler::CancelJobRequest creq;
  creq.set_job_id(id);
  scheduler::CancelJobResponse out;
  auto st = on_leader(*local_stub_, *peers_, milliseconds(cfg_.raft.commit_deadline_ms + 3000), out,
                      [&](scheduler::SchedulerService::Stub& stub, grpc::ClientContext& ctx, auto& o) {
                        return stub.CancelJob(&ctx, creq, &o);
                      });
  if (!st.ok()) return error(res, http_status(st), st.error_message());
  reply(res, 200, {{"success", true}, {"error", nullptr}});
}

void http_server::list_jobs(const httplib::Request& req, httplib::Response& res) {
  jobs::list_query q;
  auto param = [&](const char* k) { return req.has_param(k) ? req.get_param_value(k) : std::string(); };
  if (auto v = param("page_size"); !v.empty()) {
    auto n = parse_u64(v);
    if (!n) return error(res, 400, "page_size must be a non-negative integer, got \"" + v.substr(0, 32) + "\"");
    q.page_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, 1000));
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
  std::string err;
  auto l = call<list_reply>(sys_, nodes_.table, query_timeout, err, list_atom::value, list_request{q});
  if (!l) return error(res, 503, "node is not answering: " + err);
  if (!l->error.empty()) return error(res, 400, l->error);
  json arr = json::array();
  for (const auto& j : l->result.jobs) arr.push_back(job_json(j));
  res.set_header("X-Total-Count", std::to_string(l->result.total_count));
  if (!l->result.next_page_token.empty()) res.set_header("X-Next-Page-Token", l->result.next_page_token);
  res.set_header("Access-Control-Expose-Headers", "X-Total-Count, X-Next-Page-Token");
  reply(res, 200, arr);
}

void http_server::get_job(const httplib::Request& req, httplib::Response& res) {
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
    // The replicated output is a prefix; the whole of it lives on the node that ran the job.
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
}

void http_server::raft_log(const httplib::Request& req, httplib::Response& res) {
  scheduler::GetRaftLogEntriesRequest lreq;
  std::uint64_t limit = 100;
  if (req.has_param("start_index")) {
    auto v = req.get_param_value("start_index");
    auto n = parse_u64(v);
    if (!n) return error(res, 400, "start_index must be a non-negative integer, got \"" + v.substr(0, 32) + "\"");
    lreq.set_start_index(*n);
  }
  if (req.has_param("limit")) {
    auto v = req.get_param_value("limit");
    auto n = parse_u64(v);
    if (!n || *n == 0 || *n > 1000)
      return error(res, 400, "limit must be an integer from 1 to 1000, got \"" + v.substr(0, 32) + "\"");
    limit = *n;
  }
  lreq.set_limit(static_cast<std::uint32_t>(limit));
  // GetRaftLogEntries forwards to the leader by itself.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + query_timeout);
  scheduler::GetRaftLogEntriesResponse out;
  auto st = local_stub_->GetRaftLogEntries(&ctx, lreq, &out);
  if (!st.ok()) return error(res, http_status(st), st.error_message());
  json entries = json::array();
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  for (const auto& e : out.entries()) {
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
        {{"commit_index", out.commit_index()},
         {"last_log_index", out.last_log_index()},
         {"first_available_index", out.first_available_index()},
         {"entries", entries}});
}

void http_server::transfer_leadership(const httplib::Request& req, httplib::Response& res) {
  auto body = object_body(req, res, true);
  if (!body) return;
  scheduler::TransferLeadershipRequest treq;
  if (body->contains("target_node_id") && !(*body)["target_node_id"].is_null()) {
    const auto& t = (*body)["target_node_id"];
    if (!t.is_number_unsigned())
      return error(res, 400, "field \"target_node_id\" must be a non-negative integer (0 = best follower)");
    auto id = t.get<std::uint64_t>();
    if (id != 0 && !cfg_.find_member(id))
      return error(res, 400, "node " + std::to_string(id) + " is not a member of this cluster");
    treq.set_target_node_id(id);
  }
  scheduler::TransferLeadershipResponse out;
  auto wait = milliseconds(std::max<std::uint64_t>(2000, 3ull * cfg_.raft.election_ticks * cfg_.raft.tick_ms) + 4000);
  auto st = on_leader(*local_stub_, *peers_, wait, out,
                      [&](scheduler::SchedulerService::Stub& stub, grpc::ClientContext& ctx, auto& o) {
                        return stub.TransferLeadership(&ctx, treq, &o);
                      });
  if (!st.ok())
    return reply(res, http_status(st),
                 {{"success", false}, {"new_leader_id", nullptr}, {"message", st.error_message()},
                  {"error", st.error_message()}});
  reply(res, 200,
        {{"success", out.success()},
         {"new_leader_id", out.new_leader_id() ? json(out.new_leader_id()) : json(nullptr)},
         {"message", out.message()},
         {"error", nullptr}});
}

void http_server::drain(const httplib::Request& req, httplib::Response& res) {
  if (!object_body(req, res, true)) return;
  auto done = std::make_shared<std::promise<outcome>>();
  auto answer = done->get_future();
  drain_node(sys_, cfg_, nodes_, [done](const outcome& o) { done->set_value(o); });
  // drain_node answers within 65 s (60 s job wait plus the leadership hand-off).
  if (answer.wait_for(std::chrono::seconds(75)) != std::future_status::ready)
    return error(res, 504, "drain did not answer within 75 s");
  auto o = answer.get();
  bool timed_out = o.status == code::deadline_exceeded;
  if (!o.ok() && !timed_out) return error(res, 503, o.message);
  reply(res, 200, {{"success", true}, {"timed_out", timed_out}, {"message", o.message}, {"error", nullptr}});
}

void http_server::topology(const httplib::Request&, httplib::Response& res) {
  json actors = json::array();
  auto add_actor = [&](const std::string& name, std::uint64_t actor_id, const std::string& parent,
                       const std::string& links, const std::string& detail) {
    actors.push_back({{"name", name},
                      {"actor_id", actor_id ? json(actor_id) : json(nullptr)},
                      {"parent", parent},
                      {"links", links},
                      {"detail", detail}});
  };
  for (const auto& e : nodes_.fixed_actors.actors) add_actor(e.name, e.actor_id, e.parent, e.monitors, e.detail);
  std::string err;
  auto t = call<troupe::topology>(sys_, nodes_.supervisor, query_timeout, err, topology_atom::value);
  if (!t) return error(res, 503, "job_supervisor is not answering: " + err);
  for (const auto& e : t->actors) add_actor(e.name, e.actor_id, e.parent, e.monitors, e.detail);
  reply(res, 200, {{"node_id", cfg_.id}, {"actors", actors}});
}

void http_server::events(const httplib::Request&, httplib::Response& res) {
  if (event_streams_->fetch_add(1) >= max_event_streams) {
    event_streams_->fetch_sub(1);
    return error(res, 503, "too many event streams open (limit " + std::to_string(max_event_streams) + ")");
  }
  auto stream = std::make_shared<event_stream>();
  auto table = nodes_.table;
  auto listener = sys_.spawn([stream, table](change_listener::pointer self) -> change_listener::behavior_type {
    self->request(table, caf::infinite, subscribe_atom::value, change_listener{self})
        .then([stream](job_snapshot_view& v) {
          stream->push(sse_frame("hello", {{"applied_index", v.applied_index}, {"jobs", v.jobs.size()}}));
        });
    return {
        [stream](const job_changes& jc) {
          for (const auto& c : jc.changes)
            stream->push(sse_frame("job", {{"kind", change_name(c.kind)}, {"index", c.index}, {"job", job_json(c.after)}}));
        },
    };
  });
  auto stopping = stopping_;
  auto counter = event_streams_;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [stream, stopping](std::size_t, httplib::DataSink& sink) {
        // Wait at most 1 s per call so server shutdown is noticed; a comment
        // line every 15 s keeps proxies from closing an idle stream and
        // reveals a client that went away.
        std::unique_lock<std::mutex> lk(stream->mu);
        auto idle_since = std::chrono::steady_clock::now();
        while (stream->queue.empty() && !stream->overflow) {
          if (stopping->load() || !sink.is_writable()) return false;
          if (std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(15)) {
            lk.unlock();
            static constexpr char keepalive[] = ": keepalive\n\n";
            return sink.write(keepalive, sizeof keepalive - 1);
          }
          stream->cv.wait_for(lk, std::chrono::seconds(1));
        }
        if (stream->overflow) {
          lk.unlock();
          auto frame = sse_frame("overflow", {{"error", "event reader is too slow; reconnect"}});
          sink.write(frame.data(), frame.size());
          return false;
        }
        std::string out;
        while (!stream->queue.empty()) {
          out += stream->queue.front();
          stream->queue.pop_front();
        }
        lk.unlock();
        return sink.write(out.data(), out.size());
      },
      [table, listener, counter](bool) {
        caf::anon_send(table, unsub_atom::value, listener);
        caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
        counter->fetch_sub(1);
      });
}

void http_server::serve_metrics(const httplib::Request&, httplib::Response& res) {
  auto& reg = troupe::metrics::global();
  std::string err;
  // Raft and job figures are read from the actors at scrape time.
  if (auto rs = call<raft_status>(sys_, nodes_.raft, query_timeout, err, status_atom::value)) {
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
    reg.get_gauge("troupe_node_draining", "1 while this node is draining").set(rs->draining ? 1 : 0);
  }
  if (auto ts = call<table_stats>(sys_, nodes_.table, query_timeout, err, stats_atom::value)) {
    for (const auto& [status, n] : ts->by_status)
      reg.get_gauge("troupe_jobs", "Jobs in the job table, by status", {{"status", status}}).set(static_cast<double>(n));
    reg.get_gauge("troupe_jobs_total_known", "Jobs in the job table").set(static_cast<double>(ts->total));
    reg.get_gauge("troupe_job_queue_depth", "Active (not yet terminal) jobs").set(static_cast<double>(ts->active));
  }
  res.status = 200;
  res.set_content(reg.render(), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace troupe
