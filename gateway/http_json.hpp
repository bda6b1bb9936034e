// JSON helpers of the HTTP gateway: replies, the errc -> HTTP status table,
// the job shape of the REST API, and request parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "protocol/errors.hpp"
#include "runtime/jobs/job.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace troupe::http_json {

using json = nlohmann::json;

void reply(httplib::Response& res, int status, const json& body);
// {"success": false, "error": msg}
void error(httplib::Response& res, int status, const std::string& msg);

// errc -> HTTP status: the one table. not_leader is 503: a follower forwards
// to a leader it knows, so "not the leader" here means none could be reached.
int http_status(errc c);
int http_status(const caf::error& e);

// A job as GET /api/jobs lists it.
json job_json(const jobs::job& j);

// Parses a request body that must be a JSON object (http_parse::
// parse_object_body); on failure answers 400 and returns nullopt.
std::optional<json> object_body(const httplib::Request& req, httplib::Response& res, bool allow_empty);

}  // namespace troupe::http_json
