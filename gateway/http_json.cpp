#include "gateway/http_json.hpp"

#include "gateway/http_parse.hpp"
#include "runtime/jobs/rfc3339.hpp"

namespace troupe::http_json {
namespace {

json nullable_time(const std::optional<std::int64_t>& ns) {
  return ns ? json(jobs::format_rfc3339_ns(*ns)) : json(nullptr);
}

}  // namespace

void reply(http::response& res, int status, const json& body) {
  res.status = status;
  res.set_content(http_parse::reply_text(body), "application/json");
}

void error(http::response& res, int status, const std::string& msg) {
  reply(res, status, json{{"success", false}, {"error", msg}});
}

int http_status(errc c) {
  switch (c) {
    case errc::not_leader: return 503;
    case errc::invalid_argument: return 400;
    case errc::failed_precondition: return 400;
    case errc::not_found: return 404;
    case errc::resource_exhausted: return 429;
    case errc::deadline_exceeded: return 504;
    case errc::unavailable: return 503;
    case errc::internal: return 500;
    case errc::unauthenticated: return 401;
    case errc::permission_denied: return 403;
  }
  return 500;
}

int http_status(const caf::error& e) { return http_status(describe(e).code); }

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

std::optional<json> object_body(const http::request& req, http::response& res, bool allow_empty) {
  auto parsed = http_parse::parse_object_body(req.body, allow_empty);
  if (auto* bad = std::get_if<http_parse::bad_request>(&parsed)) {
    error(res, 400, bad->message);
    return std::nullopt;
  }
  return std::get<json>(std::move(parsed));
}

}  // namespace troupe::http_json
