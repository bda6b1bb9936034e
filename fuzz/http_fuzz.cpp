// HTTP/1.1 request parsing (gateway/http_request_parser.hpp), as the server
// runs it: bytes arrive in pieces of any size. Contract: the same bytes give
// the same requests (or the same refusal) whether fed at once or in pieces;
// a parsed request respects every cap (header count, body size) and has
// lower-case header names; a refusal has one of the documented statuses and a
// message that renders as the JSON error body (reply_text).
//
// Input: byte 0 picks the piece size (1..64) of the split feed; the rest is
// what a client sends on one connection (possibly several pipelined requests).
#include <string>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "gateway/http_parse.hpp"
#include "gateway/http_request_parser.hpp"

namespace troupe::fuzz {
namespace {

constexpr const char* target = "http_fuzz";

// Small caps, so that inputs of a few hundred bytes reach every one of them.
http::parser_limits limits() {
  http::parser_limits l;
  l.max_head_bytes = 512;
  l.max_headers = 8;
  l.max_body_bytes = 256;
  l.max_target_bytes = 128;
  return l;
}

struct outcome {
  std::vector<std::string> requests;  // a canonical rendering of each parsed request
  int error_status = 0;               // 0: no refusal
};

std::string render(const http::request& r) {
  std::string out = r.method + ' ' + r.path + '?' + r.query + " 1." + std::to_string(r.minor_version) +
                    (r.keep_alive ? " ka" : "") + (r.expect_continue ? " ec" : "") + '\n';
  for (const auto& [k, v] : r.headers) out += k + ':' + v + '\n';
  for (const auto& [k, v] : r.params) out += k + '=' + v + '&';
  return out + '\n' + r.body;
}

void check_request(const http::request& r, const http::parser_limits& l) {
  require(r.headers.size() <= l.max_headers, target, "more headers than the cap");
  require(r.body.size() <= l.max_body_bytes, target, "a body above the cap");
  require(!r.method.empty() && !r.target.empty() && r.target.front() == '/', target, "a request without method or path");
  for (const auto& [k, v] : r.headers) {
    require(!k.empty(), target, "an empty header name");
    for (char c : k) require(!(c >= 'A' && c <= 'Z'), target, "a header name that is not lower-case");
  }
}

void check_error(const http::parse_error& e) {
  switch (e.status) {
    case 400: case 411: case 413: case 414: case 417: case 431: case 505: break;
    default: contract_broken(target, "refusal with undocumented status " + std::to_string(e.status));
  }
  require(!e.message.empty(), target, "a refusal without a message");
  try {
    (void)http_parse::reply_text(http_parse::json{{"success", false}, {"error", e.message}});
  } catch (const std::exception& ex) {
    contract_broken(target, std::string("the refusal cannot be rendered: ") + ex.what());
  }
}

// Feeds `bytes` in pieces of `piece` bytes; collects every request (at most 16).
outcome run(const std::string& bytes, std::size_t piece) {
  const auto l = limits();
  http::request_parser p(l);
  outcome out;
  auto drain = [&](http::request_parser::status s) {
    while (s == http::request_parser::status::complete && out.requests.size() < 16) {
      check_request(p.get(), l);
      out.requests.push_back(render(p.get()));
      s = p.next();
    }
    if (s == http::request_parser::status::failed) {
      check_error(p.error());
      out.error_status = p.error().status;
    }
    return s;
  };
  auto s = drain(p.state());
  for (std::size_t i = 0; i < bytes.size() && s == http::request_parser::status::incomplete; i += piece)
    s = drain(p.feed(std::string_view(bytes).substr(i, piece)));
  return out;
}

}  // namespace

void http_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const outcome whole = run(bytes, bytes.size() + 1);
  const outcome split = run(bytes, piece);
  require(whole.requests == split.requests, target, "requests differ when the bytes arrive in pieces");
  require(whole.error_status == split.error_status, target, "the refusal differs when the bytes arrive in pieces");
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::http_one)
