// HTTP/1.1 request parsing for the REST server (gateway/http_server.hpp):
// pure, no sockets or threads, so the libFuzzer target (fuzz/http_fuzz.cpp)
// runs exactly this code. The caps are what keeps a hostile client from
// growing a connection's memory: the head (request line + headers) is refused
// with 431 once it exceeds max_head_bytes or max_headers fields, whatever the
// peer keeps sending, and a body larger than max_body_bytes is refused (413)
// from its Content-Length before a byte of it is buffered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::http {

// Query parameters in order of appearance (the same type as http_parse::query_params).
using query_params = std::multimap<std::string, std::string>;

struct parser_limits {
  std::size_t max_head_bytes = 16 << 10;  // request line + headers + the blank line
  std::size_t max_headers = 100;          // header fields
  std::size_t max_body_bytes = 64 << 10;  // Content-Length
  std::size_t max_target_bytes = 8192;    // request-target; longer is 414
};

struct request {
  std::string method;  // as sent (methods are case-sensitive)
  std::string target;  // the raw request-target
  std::string path;    // percent-decoded, without the query
  std::string query;   // raw, without '?'
  query_params params;                          // percent-decoded, '+' is a space
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;
  int minor_version = 1;  // HTTP/1.<minor>
  bool keep_alive = true;
  bool expect_continue = false;
  std::vector<std::string> matches;  // the route's regex captures (set by the gateway)

  // The first value of a header; `lower_name` must be lower-case.
  std::optional<std::string_view> header(std::string_view lower_name) const;
};

// Why a request is refused: the status (400, 411, 413, 414, 417, 431, 501,
// 505) and the text of the JSON error the server answers with.
struct parse_error {
  int status = 400;
  std::string message;
};

// Incremental: feed() whatever bytes arrived; a request is complete once its
// head and Content-Length body are in. Bytes after it (a pipelined request)
// stay buffered for next().
class request_parser {
 public:
  enum class status { incomplete, complete, failed };

  explicit request_parser(parser_limits limits);

  status feed(std::string_view bytes);
  status state() const { return state_; }
  // The head is parsed (and was accepted) but the body is not complete yet:
  // the moment to answer "Expect: 100-continue".
  bool head_parsed() const { return head_done_; }
  // The request, once state() == complete.
  request& get() { return req_; }
  const parse_error& error() const { return error_; }
  // Starts the next request on the same connection with the bytes already
  // received after the current one; returns the new state.
  status next();
  // Bytes buffered and not yet part of a parsed request.
  std::size_t buffered() const { return buf_.size(); }

 private:
  status fail(int status, std::string message);
  status parse();
  status parse_head(std::string_view head);

  parser_limits limits_;
  std::string buf_;
  std::size_t scan_ = 0;  // where the search for the end of the head resumes
  std::size_t lines_ = 0; // head lines seen so far (request line included)
  std::size_t head_len_ = 0;
  std::size_t content_length_ = 0;
  bool head_done_ = false;
  status state_ = status::incomplete;
  request req_;
  parse_error error_;
};

// Percent-decoding (RFC 3986); `plus_is_space` for query components
// (application/x-www-form-urlencoded). nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

// Splits and decodes a query string into parameters; nullopt for a malformed escape.
std::optional<query_params> parse_query(std::string_view query);

// The reason phrase of a status code ("OK", "Not Found", ...).
const char* reason_phrase(int status);

}  // namespace troupe::http
