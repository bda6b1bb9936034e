// REST request parsing (gateway/http_parse.hpp), exactly as the handlers
// in http_gateway.cpp call it. Contract: every input gives a value or a
// bad_request whose message renders as the JSON body of the 400 (reply_text);
// a parsed GET /api/jobs query runs against a job table, which answers or
// refuses with std::invalid_argument (job_table.hpp); a parsed raft-log range
// respects its limit.
//
// Input: byte 0 picks the request, the rest is the body or the query string.
#include <stdexcept>
#include <string>
#include <variant>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "gateway/http_parse.hpp"
#include "log_command.pb.h"

namespace troupe::fuzz {
namespace {

using namespace http_parse;
constexpr const char* target = "rest_fuzz";
constexpr std::uint64_t max_log_page = 1000;  // actors/raft_node.hpp, which this build does not link

// http::parse_query's splitting without its percent-decoding: the fuzzer can
// write any byte directly.
query_params split_query(const std::string& q) {
  query_params out;
  std::size_t pos = 0;
  while (pos <= q.size()) {
    std::size_t end = q.find('&', pos);
    if (end == std::string::npos) end = q.size();
    const std::string pair = q.substr(pos, end - pos);
    const std::size_t eq = pair.find('=');
    if (!pair.empty()) out.emplace(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
    pos = end + 1;
  }
  return out;
}

// The 400 the handler would send must be sendable.
template <class T>
bool refused(const parsed<T>& p) {
  const auto* bad = std::get_if<bad_request>(&p);
  if (!bad) return false;
  require(!bad->message.empty(), target, "a refusal without a message");
  try {
    (void)reply_text(json{{"success", false}, {"error", bad->message}});
  } catch (const json::exception& e) {
    contract_broken(target, std::string("the 400 reply cannot be rendered: ") + e.what());
  }
  return true;
}

// A few jobs so that filters and page tokens have something to walk.
const jobs::job_table& table() {
  static const jobs::job_table t = [] {
    jobs::job_table out;
    for (int i = 1; i <= 5; ++i) {
      logpb::Command cmd;
      auto* s = cmd.mutable_submit_job();
      s->set_job_id("job-" + std::to_string(i));
      s->set_command(i % 2 ? "echo hi" : "sleep 1");
      s->set_created_at_ns(i * 1'000'000'000LL);
      out.apply(static_cast<std::uint64_t>(i), cmd);
    }
    return out;
  }();
  return t;
}

void list_jobs(const std::string& query) {
  const auto p = parse_list_query(split_query(query));
  if (refused(p)) return;
  const auto& q = std::get<jobs::list_query>(p);
  try {
    const jobs::list_result r = table().list(q);
    require(r.jobs.size() <= jobs::max_page_size && r.jobs.size() <= r.total_count, target,
            "list returned more jobs than the page or the total");
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

void rest_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0: {  // POST /api/jobs
      const auto p = parse_submit_body(text);
      if (!refused(p)) (void)std::get<job_submission>(p);
      break;
    }
    case 1:  // POST /api/leadership/transfer
      (void)refused(parse_transfer_body(text));
      break;
    case 2:  // POST /api/drain and /api/undrain
      (void)refused(parse_object_body(text, true));
      break;
    case 3:  // GET /api/jobs
      list_jobs(text);
      break;
    case 4: {  // GET /api/raft/log
      const auto p = parse_log_query(split_query(text), max_log_page);
      if (refused(p)) break;
      const auto& r = std::get<log_range>(p);
      require(r.limit >= 1 && r.limit <= max_log_page, target, "a raft-log limit outside 1..max");
      break;
    }
  }
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::rest_one)
