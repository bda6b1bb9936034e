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

#include "gateway/http_server.hpp"

namespace troupe::http_json {

using json = nlohmann::json;

void reply(http::response& res, int status, const json& body);
// {"success": false, "error": msg}. Every JSON the REST API writes goes
// through http_parse::reply_text: invalid UTF-8 (job output is bytes) becomes
// U+FFFD instead of an exception, so no page answers 500 because of it.
void error(http::response& res, int status, const std::string& msg);

// errc -> HTTP status: the one table. not_leader is 503: a follower forwards
// to a leader it knows, so "not the leader" here means none could be reached.
int http_status(errc c);
int http_status(const caf::error& e);

// A job as GET /api/jobs lists it.
json job_json(const jobs::job& j);

// Parses a request body that must be a JSON object (http_parse::
// parse_object_body); on failure answers 400 and returns nullopt.
std::optional<json> object_body(const http::request& req, http::response& res, bool allow_empty);

}  // namespace troupe::http_json
