#include "gateway/http_parse.hpp"

#include <algorithm>
#include <utility>

namespace troupe::http_parse {
namespace {

// The first value given for `key`.
std::optional<std::string> param(const query_params& params, const char* key) {
  auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  return it->second;
}

// Echoed values are cut so that a long query string cannot make a long error.
std::string echo(const std::string& v) { return "\"" + v.substr(0, 32) + "\""; }

}  // namespace

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::stoull(s);
}

parsed<json> parse_object_body(const std::string& body, bool allow_empty) {
  if (allow_empty && body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json out;
  try {
    out = json::parse(body);
  } catch (const json::exception& e) {
    return bad_request{std::string("malformed JSON: ") + e.what()};
  }
  if (!out.is_object()) return bad_request{"the body must be a JSON object"};
  return out;
}

parsed<job_submission> parse_submit_body(const std::string& text) {
  auto parsed_body = parse_object_body(text, false);
  if (auto* bad = std::get_if<bad_request>(&parsed_body)) return std::move(*bad);
  const json& body = std::get<json>(parsed_body);
  if (!body.contains("command")) return bad_request{"missing field \"command\""};
  if (!body["command"].is_string()) return bad_request{"field \"command\" must be a string"};
  if (body.contains("image") && !body["image"].is_null() && !body["image"].is_string())
    return bad_request{"field \"image\" must be a string or null"};
  job_submission s;
  if (body.contains("timeout_s") && !body["timeout_s"].is_null()) {
    const json& t = body["timeout_s"];
    if (!t.is_number_unsigned() || t.get<std::uint64_t>() > 0xffffffffu)
      return bad_request{"field \"timeout_s\" must be an integer in 0..4294967295 (seconds; 0 = the default)"};
    s.timeout_s = static_cast<std::uint32_t>(t.get<std::uint64_t>());
  }
  s.command = body["command"].get<std::string>();
  if (body.contains("image") && body["image"].is_string()) s.image = body["image"].get<std::string>();
  return s;
}

parsed<std::uint64_t> parse_transfer_body(const std::string& text) {
  auto parsed_body = parse_object_body(text, true);
  if (auto* bad = std::get_if<bad_request>(&parsed_body)) return std::move(*bad);
  const json& body = std::get<json>(parsed_body);
  std::uint64_t target = 0;
  if (body.contains("target_node_id") && !body["target_node_id"].is_null()) {
    const auto& t = body["target_node_id"];
    if (!t.is_number_unsigned())
      return bad_request{"field \"target_node_id\" must be a non-negative integer (0 = best follower)"};
    target = t.get<std::uint64_t>();
  }
  return target;
}

parsed<jobs::list_query> parse_list_query(const query_params& params) {
  jobs::list_query q;
  auto value = [&](const char* k) { return param(params, k).value_or(std::string()); };
  if (auto v = value("page_size"); !v.empty()) {
    auto n = parse_u64(v);
    if (!n) return bad_request{"page_size must be a non-negative integer, got " + echo(v)};
    q.page_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, jobs::max_page_size));
  }
  q.page_token = value("page_token");
  if (auto v = value("status"); !v.empty()) {
    auto st = jobs::parse_status(v);
    if (!st) return bad_request{"unknown status " + echo(v)};
    q.status = *st;
  }
  if (auto v = value("worker"); !v.empty()) {
    auto n = parse_u64(v);
    if (!n) return bad_request{"worker must be a node id, got " + echo(v)};
    q.worker = *n;
  }
  q.command_substring = value("command");
  for (auto [k, dst] :
       {std::pair{"created_after_ms", &q.created_after_ms}, std::pair{"created_before_ms", &q.created_before_ms}}) {
    if (auto v = value(k); !v.empty()) {
      auto n = parse_u64(v);
      if (!n) return bad_request{std::string(k) + " must be milliseconds since the epoch, got " + echo(v)};
      *dst = static_cast<std::int64_t>(*n);
    }
  }
  return q;
}

parsed<log_range> parse_log_query(const query_params& params, std::uint64_t max_limit) {
  log_range r;
  if (auto v = param(params, "start_index")) {
    auto n = parse_u64(*v);
    if (!n) return bad_request{"start_index must be a non-negative integer, got " + echo(*v)};
    r.start = *n;
  }
  if (auto v = param(params, "limit")) {
    auto n = parse_u64(*v);
    if (!n || *n == 0 || *n > max_limit)
      return bad_request{"limit must be an integer from 1 to " + std::to_string(max_limit) + ", got " + echo(*v)};
    r.limit = *n;
  }
  return r;
}

// Replies echo what the client sent (a query value cut at 32 bytes, possibly
// inside a UTF-8 sequence; nlohmann's parse errors quote the body's bytes), and
// a plain dump() throws on invalid UTF-8, which turned those 400s into 500s.
// Invalid bytes become U+FFFD instead.
std::string reply_text(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace troupe::http_parse
