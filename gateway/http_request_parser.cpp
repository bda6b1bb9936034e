#include "gateway/http_request_parser.hpp"

#include <algorithm>
#include <cctype>

namespace troupe::http {
namespace {

// RFC 9110 tchar: the characters of a method or a header name.
bool is_tchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls f(token) for each comma-separated, trimmed, non-empty element.
template <class F>
void for_each_element(std::string_view list, F f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

std::optional<std::string_view> request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<query_params> parse_query(std::string_view query) {
  query_params out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
      if (!key || !value) return std::nullopt;
      out.emplace(std::move(*key), std::move(*value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

request_parser::request_parser(parser_limits limits) : limits_(limits) {}

request_parser::status request_parser::fail(int status, std::string message) {
  error_ = {status, std::move(message)};
  state_ = status::failed;
  return state_;
}

request_parser::status request_parser::feed(std::string_view bytes) {
  if (state_ != status::incomplete) return state_;
  buf_.append(bytes.data(), bytes.size());
  return parse();
}

request_parser::status request_parser::next() {
  if (state_ != status::complete) return state_;
  req_ = request{};
  scan_ = lines_ = head_len_ = content_length_ = 0;
  head_done_ = false;
  state_ = status::incomplete;
  return parse();
}

request_parser::status request_parser::parse() {
  if (!head_done_) {
    // RFC 9112 2.2: empty lines before a request line are ignored.
    if (lines_ == 0 && scan_ == 0) {
      std::size_t skip = 0;
      while (skip < buf_.size() && (buf_[skip] == '\r' || buf_[skip] == '\n')) ++skip;
      // A lone CR may be the start of a CRLF still in flight; keep it.
      if (skip > 0 && skip == buf_.size() && buf_.back() == '\r') --skip;
      buf_.erase(0, skip);
    }
    // Look for the blank line that ends the head, counting lines on the way,
    // so neither an endless head nor endless header lines are buffered.
    std::size_t end = std::string::npos;
    while (scan_ < buf_.size()) {
      auto nl = buf_.find('\n', scan_);
      if (nl == std::string::npos) break;
      std::size_t len = nl - scan_;
      if (len > 0 && buf_[nl - 1] == '\r') --len;
      if (lines_ == 0 && len > limits_.max_target_bytes + 32)
        return fail(414, "request line longer than " + std::to_string(limits_.max_target_bytes) + " bytes");
      scan_ = nl + 1;
      if (len == 0 && lines_ > 0) {
        end = scan_;
        break;
      }
      if (++lines_ > limits_.max_headers + 1)
        return fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
    }
    const std::size_t head_bytes = end == std::string::npos ? buf_.size() : end;
    if (head_bytes > limits_.max_head_bytes) {
      if (lines_ == 0 && buf_.size() > limits_.max_target_bytes + 32)
        return fail(414, "request line longer than " + std::to_string(limits_.max_target_bytes) + " bytes");
      return fail(431, "request head (request line and headers) larger than " +
                           std::to_string(limits_.max_head_bytes) + " bytes");
    }
    if (end == std::string::npos) return state_;
    head_len_ = end;
    if (parse_head(std::string_view(buf_.data(), head_len_)) == status::failed) return state_;
    head_done_ = true;
  }
  if (buf_.size() - head_len_ < content_length_) return state_;
  req_.body.assign(buf_, head_len_, content_length_);
  buf_.erase(0, head_len_ + content_length_);
  state_ = status::complete;
  return state_;
}

request_parser::status request_parser::parse_head(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    auto nl = head.find('\n');
    auto line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
  }
  if (lines.empty()) return fail(400, "empty request");

  // request-line = method SP request-target SP HTTP-version
  const std::string_view rl = lines[0];
  const auto sp1 = rl.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line: expected \"METHOD /path HTTP/1.1\"");
  const auto method = rl.substr(0, sp1);
  const auto target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = rl.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "malformed request method");
  if (target.size() > limits_.max_target_bytes)
    return fail(414, "request target longer than " + std::to_string(limits_.max_target_bytes) + " bytes");
  if (target.empty() || target.front() != '/')
    return fail(400, "the request target must be an absolute path (origin-form), such as /api/jobs");
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return fail(400, "control character or space in the request target");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !std::isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' || !std::isdigit(static_cast<unsigned char>(version[7])))
    return fail(400, "malformed HTTP version");
  if (version[5] != '1') return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  req_.method = std::string(method);
  req_.target = std::string(target);
  req_.minor_version = version[7] - '0';
  req_.keep_alive = req_.minor_version >= 1;

  std::size_t hosts = 0;
  std::optional<std::uint64_t> content_length;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t')
      return fail(400, "obsolete header line folding is not supported");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return fail(400, "malformed header line (expected \"Name: value\")");
    const auto value = trim(line.substr(colon + 1));
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return fail(400, "control character in a header value");
    }
    std::string name = lower(line.substr(0, colon));
    if (name == "content-length") {
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return value.size() > 19 && std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })
                   ? fail(413, "request body is larger than " + std::to_string(limits_.max_body_bytes) + " bytes")
                   : fail(400, "malformed Content-Length");
      const std::uint64_t n = std::stoull(std::string(value));
      if (content_length && *content_length != n) return fail(400, "conflicting Content-Length headers");
      content_length = n;
    } else if (name == "transfer-encoding") {
      return fail(411, "request bodies with Transfer-Encoding (chunked) are not supported; send Content-Length");
    } else if (name == "host") {
      ++hosts;
    } else if (name == "connection") {
      for_each_element(value, [&](std::string_view t) {
        if (iequals(t, "close")) req_.keep_alive = false;
        else if (iequals(t, "keep-alive") && req_.minor_version == 0) req_.keep_alive = true;
      });
    } else if (name == "expect") {
      if (!iequals(value, "100-continue")) return fail(417, "unsupported expectation; only 100-continue is");
      req_.expect_continue = req_.minor_version >= 1;
    }
    req_.headers.emplace_back(std::move(name), std::string(value));
  }
  if (req_.headers.size() > limits_.max_headers)
    return fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
  if (hosts > 1) return fail(400, "more than one Host header");
  if (hosts == 0 && req_.minor_version >= 1) return fail(400, "missing Host header (required by HTTP/1.1)");
  if (content_length && *content_length > limits_.max_body_bytes)
    return fail(413, "request body is larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
  content_length_ = static_cast<std::size_t>(content_length.value_or(0));

  std::string_view t = req_.target;
  if (auto hash = t.find('#'); hash != std::string_view::npos) t = t.substr(0, hash);
  const auto q = t.find('?');
  auto path = percent_decode(t.substr(0, q), false);
  if (!path) return fail(400, "malformed percent-encoding in the path");
  if (path->find('\0') != std::string::npos) return fail(400, "NUL byte in the path");
  req_.path = std::move(*path);
  if (q != std::string_view::npos) {
    req_.query = std::string(t.substr(q + 1));
    auto params = parse_query(req_.query);
    if (!params) return fail(400, "malformed percent-encoding in the query string");
    req_.params = std::move(*params);
  }
  return state_;
}

}  // namespace troupe::http
