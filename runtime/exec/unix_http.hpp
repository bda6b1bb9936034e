// Minimal HTTP/1.1 client over a unix domain socket (libcurl with
// CURLOPT_UNIX_SOCKET_PATH). Each request uses its own curl handle, so one
// client may be used from several threads at once: the job thread waits on a
// container while a cancelling thread kills it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace troupe::exec {

struct http_request {
  std::string method = "GET";
  std::string target;  // path and query, e.g. "/v1.41/containers/json?all=1"
  std::string body;
  std::string content_type = "application/json";
  std::chrono::milliseconds timeout{0};  // whole request; 0 = no limit
  // When set, receives the body as it arrives instead of http_response::body.
  std::function<void(std::string_view)> on_body;
  // Polled while waiting (at least once a second); returning true aborts.
  std::function<bool()> should_abort;
};

struct http_response {
  bool connected = false;   // false: the daemon could not be reached at all
  bool timed_out = false;   // http_request::timeout elapsed
  bool aborted = false;     // should_abort() returned true
  std::string transport_error;  // curl's message when the exchange did not complete
  long status = 0;
  std::string body;
  bool ok() const { return transport_error.empty() && status >= 200 && status < 300; }
};

class unix_http_client {
 public:
  explicit unix_http_client(std::string socket_path);
  const std::string& socket_path() const { return socket_path_; }
  // Never throws for transport failures; they are reported in the response.
  http_response perform(const http_request& req) const;

 private:
  std::string socket_path_;
};

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view s);

}  // namespace troupe::exec
