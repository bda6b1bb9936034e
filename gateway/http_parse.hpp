// Parsing and validation of REST request bodies and query strings, with no
// sockets, actors or I/O: the handlers in http_gateway.cpp call exactly these
// functions, and so does the REST fuzzer (fuzz/rest_fuzz.cpp).
//
// Each parser returns the request's value or the message of the 400 the
// handler answers with.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "runtime/jobs/job_table.hpp"

namespace troupe::http_parse {

using json = nlohmann::json;

// Why a request is refused with 400; the text is the reply's "error".
struct bad_request {
  std::string message;
};

template <class T>
using parsed = std::variant<T, bad_request>;

// Query parameters, percent-decoded, as http::request::params holds them.
using query_params = std::multimap<std::string, std::string>;

// Up to 19 decimal digits and nothing else ("" and signs refused), so the
// value always fits: the largest is 9999999999999999999 < 2^64.
std::optional<std::uint64_t> parse_u64(const std::string& s);

// A request body that must be a JSON object; an empty or all-blank body counts
// as {} when allow_empty (POST /api/leadership/transfer, /api/drain, /api/undrain).
parsed<json> parse_object_body(const std::string& body, bool allow_empty);

// POST /api/jobs: {"command": string, "image": string|null (optional)}.
struct job_submission {
  std::string command;
  std::string image;  // empty: the executing node's default
  std::uint32_t timeout_s = 0;  // troupe extension, as in gRPC's SubmitJobRequest; 0: the default
};
parsed<job_submission> parse_submit_body(const std::string& body);

// POST /api/leadership/transfer: {"target_node_id": unsigned|null (optional)};
// 0 (also absent or null) asks for the best follower.
parsed<std::uint64_t> parse_transfer_body(const std::string& body);

// GET /api/jobs: page_size, page_token, status, worker, command,
// created_after_ms, created_before_ms. The page token is passed through
// unchecked: the job table decides whether it is one of its own.
parsed<jobs::list_query> parse_list_query(const query_params& params);

// GET /api/raft/log: start_index (default 0) and limit (1..max_limit, default 100).
struct log_range {
  std::uint64_t start = 0;
  std::uint64_t limit = 100;
};
parsed<log_range> parse_log_query(const query_params& params, std::uint64_t max_limit);

// The text of a JSON reply, as http_json::reply sends it: always valid UTF-8,
// even when a message quotes invalid bytes from the request.
std::string reply_text(const json& body);

}  // namespace troupe::http_parse
