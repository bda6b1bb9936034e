#include "gateway/http_json.hpp"

#include <httplib.h>

#include "runtime/jobs/rfc3339.hpp"

namespace troupe::http_json {
namespace {

json nullable_time(const std::optional<std::int64_t>& ns) {
  return ns ? json(jobs::format_rfc3339_ns(*ns)) : json(nullptr);
}

}  // namespace

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& msg) {
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

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoull(s);
}

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

}  // namespace troupe::http_json
