#include "gateway/http_gateway.hpp"

#include <unistd.h>

#include <cctype>
#include <optional>
#include <variant>

#include <caf/scoped_actor.hpp>
#include <google/protobuf/util/json_util.h>

#include "config/host_port.hpp"
#include "config/timeouts.hpp"
#include "gateway/dashboard/assets.hpp"
#include "gateway/http_events.hpp"
#include "gateway/http_json.hpp"
#include "gateway/http_parse.hpp"
#include "runtime/common/log.hpp"
#include "runtime/common/metrics.hpp"
#include "service/status_views.hpp"

namespace troupe {
namespace {

using namespace http_json;
using http_parse::bad_request;

// The node service's answer to a blocking request: a value, or why not.
template <class R>
struct answer {
  std::optional<R> value;
  caf::error error;
  explicit operator bool() const { return value.has_value(); }
  R* operator->() { return &*value; }
};

// Blocking request from a connection thread (one thread per connection).
template <class R, class... Ts>
answer<R> ask(caf::actor_system& sys, const node_service_actor& service, std::chrono::milliseconds timeout,
              Ts... xs) {
  caf::scoped_actor self{sys};
  answer<R> out;
  self->request(service, timeout, xs...)
      .receive([&](R& r) { out.value = std::move(r); }, [&](caf::error& e) { out.error = std::move(e); });
  return out;
}

void fail(http::response& res, const caf::error& e) { error(res, http_status(e), describe(e).message); }

// The client's credentials, passed on when the service forwards the request
// to the leader, which checks them again.
std::string authorization(const http::request& req) {
  auto a = req.header("authorization");
  return a ? std::string(*a) : std::string();
}

metrics::counter& http_requests(const std::string& method, int status) {
  return metrics::global().get_counter("troupe_http_requests_total", "HTTP requests answered, by method and status",
                                       {{"method", method}, {"code", std::to_string(status)}});
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "host", "host:port", "[v6]" or "[v6]:port" -> lower-case host and port; nullopt if malformed.
std::optional<http_server::host_pattern> parse_authority(std::string_view s) {
  http_server::host_pattern out;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = lower(s.substr(1, close - 1));
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    auto colon = s.find(':');
    if (colon != std::string_view::npos) {
      if (s.find(':', colon + 1) != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
      port = s.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    out.host = lower(s.substr(0, colon));
  }
  if (out.host.empty()) return std::nullopt;
  for (char c : out.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_' || c == '%'))
      return std::nullopt;
  if (!port.empty()) {
    if (port.size() > 5) return std::nullopt;
    unsigned long p = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p == 0 || p > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(p);
  }
  return out;
}

// The media type of a Content-Type value, lower-case, without parameters.
std::string media_type(std::string_view v) {
  auto semi = v.find(';');
  auto t = v.substr(0, semi);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  return lower(t);
}

// On every response (http::server adds them unless a handler set its own):
// no inline script or style may run, no page may frame the dashboard, no
// response is sniffed into another type, no URL leaks in a Referer, and API
// answers are not cached (the dashboard's files override Cache-Control).
std::vector<std::pair<std::string, std::string>> security_headers() {
  return {{"Content-Security-Policy",
           "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"},
          {"X-Frame-Options", "DENY"},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"Cache-Control", "no-store"}};
}

}  // namespace

http_server::http_server(caf::actor_system& sys, config::node_config cfg, node_service_actor service)
    : sys_(sys), cfg_(std::move(cfg)), service_(std::move(service)), gate_(cfg_.auth),
      event_streams_(std::make_shared<std::atomic<int>>(0)) {
  routes();
  // The names this node answers to: its listen, advertised and members[]
  // addresses, the loopback names and its host name, each with its HTTP port,
  // and [http] allowed_hosts. (The address a client actually connected to is
  // allowed per connection, in host_allowed.)
  auto [listen_host, listen_port] = config::split_host_port(cfg_.http_listen);
  auto add_host = [this](const std::string& host, std::optional<std::uint16_t> port) {
    if (host.empty() || config::is_wildcard_host(host)) return;
    allowed_hosts_.push_back({lower(host), port});
  };
  add_host(listen_host, listen_port);
  for (const char* h : {"localhost", "127.0.0.1", "::1"}) add_host(h, listen_port);
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) add_host(name, listen_port);
  if (const auto* self = cfg_.find_member(cfg_.id)) {
    if (!self->http_address.empty()) {
      auto [h, p] = config::split_host_port(self->http_address);
      add_host(h, p);
    }
    if (!self->address.empty()) add_host(config::split_host_port(self->address).first, listen_port);
  }
  if (!cfg_.advertise_addr.empty()) add_host(config::split_host_port(cfg_.advertise_addr).first, listen_port);
  for (const auto& h : cfg_.http.allowed_hosts) {
    if (h == "*") {
      any_host_ = true;
      continue;
    }
    if (auto p = parse_authority(h)) allowed_hosts_.push_back(*p);
    else TLOG(warn, "http_gateway") << "[http] allowed_hosts: ignoring malformed entry \"" << h << "\"";
  }

  http::server_options opts;
  opts.listen = cfg_.http_listen;
  opts.limits = cfg_.limits;
  opts.tls = cfg_.tls;
  opts.max_body_bytes = max_body_bytes;
  opts.default_headers = security_headers();
  opts.on_response = [](const std::string& method, int status) { http_requests(method, status).inc(); };
  server_ = std::make_unique<http::server>(std::move(opts), [this](http::request& req, http::response& res,
                                                                   const http::connection_info& conn) {
    dispatch(req, res, conn);
  });
  TLOG(info, "http_gateway") << "REST API, dashboard and /metrics on " << (server_->tls() ? "https" : "http") << "://"
                             << cfg_.http_listen << "/ (" << cfg_.limits.http_connections << " connections at most"
                             << (gate_.enabled() ? ", bearer tokens required" : "") << ")";
}

http_server::~http_server() { server_.reset(); }

void http_server::add(const std::string& pattern, const std::string& method, std::optional<access::operation> op,
                      handler h) {
  for (auto& r : routes_)
    if (r.pattern == pattern) {
      r.methods.push_back({method, op, std::move(h)});
      return;
    }
  routes_.push_back({pattern, std::regex(pattern), {{method, op, std::move(h)}}});
}

bool http_server::host_allowed(std::string_view host_port, bool tls, const http::connection_info& conn) const {
  if (any_host_) return true;
  auto h = parse_authority(host_port);
  if (!h) return false;
  const std::uint16_t port = h->port.value_or(tls ? 443 : 80);
  for (const auto& a : allowed_hosts_)
    if (a.host == h->host && (!a.port || *a.port == port)) return true;
  // The address the client connected to is by definition this node's; a
  // rebinding attack needs a name, and an IP literal is not one.
  if (auto local = parse_authority(conn.local_address)) return local->host == h->host && local->port == port;
  return false;
}

void http_server::dispatch(request& req, response& res, const http::connection_info& conn) {
  const auto host = req.header("host");
  // HTTP/1.0 may omit Host (the parser requires it for 1.1): nothing to check then.
  if (host && !host_allowed(*host, conn.tls, conn))
    return error(res, 421,
                 "this node does not answer to host \"" + std::string(host->substr(0, 100)) +
                     "\"; add it to [http] allowed_hosts if it is one of the node's names");
  if (const auto origin = req.header("origin")) {
    const std::string scheme = conn.tls ? "https://" : "http://";
    const bool ok = origin->size() > scheme.size() && lower(origin->substr(0, scheme.size())) == scheme &&
                    host_allowed(origin->substr(scheme.size()), conn.tls, conn);
    if (!ok)
      return error(res, 403, "cross-origin request from \"" + std::string(origin->substr(0, 100)) + "\" refused");
  }
  for (const auto& r : routes_) {
    std::smatch m;
    if (!std::regex_match(req.path, m, r.re)) continue;
    std::string allow;
    for (const auto& e : r.methods) {
      if (e.method == req.method || (e.method == "GET" && req.method == "HEAD")) {
        if (e.op) {
          auto who = gate_.check(req.header("authorization"), *e.op);
          if (!who) {
            if (http_status(who.error()) == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"troupe\"");
            return fail(res, who.error());
          }
        }
        if (req.method != "GET" && req.method != "HEAD") {
          const auto ct = req.header("content-type");
          if ((ct || !req.body.empty()) && (!ct || media_type(*ct) != "application/json"))
            return error(res, 415,
                         "Content-Type must be application/json" +
                             (ct ? " (got \"" + std::string(ct->substr(0, 100)) + "\")" : std::string(" (none given)")));
        }
        req.matches.assign(m.begin(), m.end());
        return e.h(req, res);
      }
      allow += (allow.empty() ? "" : ", ") + e.method;
    }
    res.set_header("Allow", allow);
    return error(res, 405, "method " + req.method + " is not allowed on " + req.path + "; allowed: " + allow);
  }
  error(res, 404, "no route for " + req.method + " " + req.path);
}

void http_server::routes() {
  using op = access::operation;
  auto bind = [this](void (http_server::*fn)(const request&, response&)) {
    return [this, fn](const request& req, response& res) { (this->*fn)(req, res); };
  };

  add("/health/live", "GET", std::nullopt, [](const request&, response& res) { reply(res, 200, {{"status", "ok"}}); });
  add("/health/ready", "GET", std::nullopt, [this](const request&, response& res) {
    // Ready means a leader is known: Raft's own view (the member list as
    // this node sees it), not the node's health, which also asks the job
    // table, so a table busy with a restart's work would make a node that
    // knows its leader answer "no_leader".
    auto rs = ask<raft_status>(sys_, service_, config::outer(config::query_timeout), member_atom::value, true);
    if (rs && rs->leader_id != 0)
      reply(res, 200, {{"status", "ok"}, {"leader_id", rs->leader_id}});
    else
      reply(res, 503, {{"status", "no_leader"}, {"leader_id", nullptr}});
  });
  add("/api/cluster", "GET", op::cluster, bind(&http_server::get_cluster));
  add("/api/jobs", "GET", op::list_jobs, bind(&http_server::list_jobs));
  add("/api/jobs", "POST", op::submit_job, bind(&http_server::post_job));
  add("/api/jobs/([^/]+)", "GET", op::get_job, bind(&http_server::get_job));
  add("/api/jobs/([^/]+)", "DELETE", op::cancel_job, bind(&http_server::delete_job));
  add("/api/raft/log", "GET", op::raft_log, bind(&http_server::raft_log));
  add("/api/leadership/transfer", "POST", op::transfer_leadership, bind(&http_server::transfer_leadership));
  add("/api/drain", "POST", op::drain_node, bind(&http_server::drain));
  add("/api/undrain", "POST", op::undrain_node, bind(&http_server::undrain));
  add("/api/topology", "GET", op::cluster, bind(&http_server::topology));
  add("/api/events", "GET", op::stream_jobs, bind(&http_server::events));
  add("/metrics", "GET", op::metrics, bind(&http_server::serve_metrics));
  // The dashboard's own files are open: they hold no data, and the page asks
  // for a token when the API answers 401.
  for (const auto& a : dashboard::assets()) {
    auto serve = [&a](const request&, response& res) {
      res.status = 200;
      res.set_header("Cache-Control", "no-cache");
      res.set_content(std::string(a.body.data(), a.body.size()), a.content_type);
    };
    add(a.path, "GET", std::nullopt, serve);
    if (std::string(a.path) == "/index.html") add("/", "GET", std::nullopt, serve);
  }
}

// This node's own Raft view and drain state; the nodes' liveness as the
// leader knows it (this node's own when no leader answers).
void http_server::get_cluster(const request& req, response& res) {
  auto h = ask<node_health>(sys_, service_, config::outer(config::query_timeout), status_atom::value);
  if (!h) return fail(res, h.error);
  auto view = ask<scheduler::GetClusterStatusResponse>(sys_, service_, config::forwarded_query_wait(),
                                                       cluster_atom::value, false, authorization(req));
  if (!view)
    view = ask<scheduler::GetClusterStatusResponse>(sys_, service_, config::outer(config::query_timeout),
                                                    cluster_atom::value, true, std::string());
  if (!view) return fail(res, view.error);
  const auto& rs = h->raft;
  json nodes = json::array();
  for (const auto& n : view->nodes())
    nodes.push_back({{"node_id", n.node_id()},
                     {"address", n.address()},
                     {"is_alive", n.is_alive()},
                     {"role", n.role()},  // "learner" for a member still catching up
                     {"voter", n.role() != "learner"},
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
         // The replicated configuration this node holds (troupe member list).
         {"config_index", rs.conf_index},
         {"config_committed", rs.conf_committed},
         {"nodes", nodes}});
}

void http_server::post_job(const request& req, response& res) {
  auto failed = [&](int status, const std::string& msg) {
    reply(res, status, {{"success", false}, {"job_id", nullptr}, {"status", nullptr}, {"error", msg}});
  };
  auto parsed = http_parse::parse_submit_body(req.body);
  if (auto* bad = std::get_if<bad_request>(&parsed)) return failed(400, bad->message);
  auto& job = std::get<http_parse::job_submission>(parsed);
  submit_request s;
  s.command = std::move(job.command);
  s.image = std::move(job.image);
  s.timeout_s = job.timeout_s;  // above [executor] max_timeout_s the service refuses it (400)
  s.forward = true;
  s.authorization = authorization(req);
  auto r = ask<proposal_result>(sys_, service_, config::write_wait(cfg_), submit_atom::value, s);
  if (!r) return failed(http_status(r.error), describe(r.error).message);
  reply(res, 200, {{"success", true}, {"job_id", r->job_id}, {"status", "pending"}, {"error", nullptr}});
}

void http_server::delete_job(const request& req, response& res) {
  auto r = ask<std::uint64_t>(sys_, service_, config::write_wait(cfg_), cancel_atom::value, req.matches.at(1), true,
                              authorization(req));
  if (!r) return fail(res, r.error);
  reply(res, 200, {{"success", true}, {"error", nullptr}});
}

void http_server::list_jobs(const request& req, response& res) {
  auto parsed = http_parse::parse_list_query(req.params);
  if (auto* bad = std::get_if<bad_request>(&parsed)) return error(res, 400, bad->message);
  const auto& q = std::get<jobs::list_query>(parsed);
  auto l = ask<jobs::list_result>(sys_, service_, config::outer(config::query_timeout), list_atom::value, q);
  if (!l) return fail(res, l.error);
  json arr = json::array();
  for (const auto& j : l->jobs) arr.push_back(job_json(j));
  res.set_header("X-Total-Count", std::to_string(l->total_count));
  if (!l->next_page_token.empty()) res.set_header("X-Next-Page-Token", l->next_page_token);
  res.set_header("Access-Control-Expose-Headers", "X-Total-Count, X-Next-Page-Token");
  reply(res, 200, arr);
}

void http_server::get_job(const request& req, response& res) {
  auto d = ask<job_detail>(sys_, service_, config::write_wait(cfg_), get_atom::value, req.matches.at(1), false);
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

void http_server::raft_log(const request& req, response& res) {
  auto parsed = http_parse::parse_log_query(req.params, max_log_page);
  if (auto* bad = std::get_if<bad_request>(&parsed)) return error(res, 400, bad->message);
  const auto [start, limit] = std::get<http_parse::log_range>(parsed);
  auto out = ask<scheduler::GetRaftLogEntriesResponse>(sys_, service_, config::forwarded_query_wait(), log_atom::value,
                                                       start, static_cast<std::uint32_t>(limit), false, authorization(req));
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

void http_server::transfer_leadership(const request& req, response& res) {
  auto parsed = http_parse::parse_transfer_body(req.body);
  if (auto* bad = std::get_if<bad_request>(&parsed)) return error(res, 400, bad->message);
  const std::uint64_t target = std::get<std::uint64_t>(parsed);
  auto r = ask<std::uint64_t>(sys_, service_, config::transfer_request_wait(cfg_), transfer_atom::value, target, true,
                              authorization(req));
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

void http_server::drain(const request& req, response& res) {
  if (!object_body(req, res, true)) return;
  auto d = ask<drain_result>(sys_, service_, config::outer(config::drain_wait(cfg_)), drain_atom::value);
  if (!d) return fail(res, d.error);
  reply(res, 200, {{"success", true}, {"timed_out", d->timed_out}, {"message", d->message}, {"error", nullptr}});
}

void http_server::undrain(const request& req, response& res) {
  if (!object_body(req, res, true)) return;
  auto m = ask<std::string>(sys_, service_, config::outer(config::drain_entry_wait(cfg_)), undrain_atom::value);
  if (!m) return fail(res, m.error);
  reply(res, 200, {{"success", true}, {"timed_out", false}, {"message", *m.value}, {"error", nullptr}});
}

void http_server::topology(const request&, response& res) {
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

void http_server::events(const request&, response& res) {
  const int cap = static_cast<int>(cfg_.limits.stream_subscribers);
  if (event_streams_->fetch_add(1) >= cap) {
    event_streams_->fetch_sub(1);
    res.set_header("Retry-After", "5");
    return error(res, 503,
                 "too many event streams open (limit " + std::to_string(cap) + ", [limits] stream_subscribers); retry later");
  }
  serve_events(sys_, service_, res, event_streams_);
}

void http_server::serve_metrics(const request&, response& res) {
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
