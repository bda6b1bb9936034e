// http::server: the small HTTP/1.1 server under the REST gateway. It replaced
// cpp-httplib's server, whose compiled-in parser has no cap on the number of
// header fields and whose fixed thread pool a few dozen slow clients exhaust.
//
// Threads: one acceptor thread (blocked in poll(), no timer: an idle node
// wakes for nothing) and one thread per open connection, at most
// limits.http_connections of them; a connection beyond that gets a 503 and is
// closed at once. A connection thread ends with its connection.
//
// Deadlines, all from [limits]: a request's head and body must arrive within
// http_request_timeout_ms of its first byte (of the accept, for the first
// request, which includes the TLS handshake): a total deadline, not one per
// read, so a client trickling one byte a second is cut off all the same. A
// keep-alive connection waits at most http_idle_timeout_ms for the next
// request. Every read and write is a poll() with the time left.
//
// Caps (gateway/http_request_parser.hpp): head bytes and header count (431),
// request-target (414), body (413, from Content-Length before reading it).
// Chunked request bodies are refused (411).
//
// TLS (OpenSSL, TLS 1.2+) when [tls] is configured: the listener then speaks
// TLS only; a plaintext client fails the handshake and is closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "config/node_config.hpp"
#include "gateway/http_request_parser.hpp"

namespace troupe::http {

// The body of a streamed response (server-sent events), sent with chunked
// transfer encoding on the connection's thread.
class stream_sink {
 public:
  virtual ~stream_sink() = default;
  // Sends `data` as one chunk. False when the client is gone, did not take the
  // bytes within the write deadline, or the server is stopping: the stream ends.
  virtual bool write(std::string_view data) = 0;
  // False once the client has closed its side or the server is stopping.
  virtual bool alive() = 0;
};

struct response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Set for a streamed body; called after the head is sent. The connection
  // is closed when it returns.
  std::function<void(stream_sink&)> stream;

  // Replaces any header of that name (case-insensitive).
  void set_header(std::string name, std::string value);
  void set_content(std::string body, std::string content_type);
  bool has_header(std::string_view name) const;
};

// What a handler may need to know about the connection a request came on.
struct connection_info {
  std::string local_address;  // host:port the client connected to ("[::1]:8081" for IPv6)
  bool tls = false;
};

struct server_options {
  std::string listen;  // host:port
  config::limits_options limits;
  config::tls_options tls;
  std::size_t max_body_bytes = 64 << 10;
  // On every response unless the handler set a header of the same name,
  // including the server's own refusals (400, 408, 413, 431, 503, ...).
  std::vector<std::pair<std::string, std::string>> default_headers;
  // Called once per answered request (metrics).
  std::function<void(const std::string& method, int status)> on_response;
};

using handler = std::function<void(request&, response&, const connection_info&)>;

class server {
 public:
  // Binds the listen address and starts the acceptor. Throws
  // std::runtime_error when it cannot listen or the TLS files do not load.
  server(server_options options, handler h);
  // Stops accepting, wakes and closes every connection, joins every thread.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  std::uint16_t port() const { return port_; }
  bool tls() const { return tls_ctx_ != nullptr; }

 private:
  struct connection;
  void accept_loop();
  void serve(const std::shared_ptr<connection>& c);
  void refuse(int fd);
  void reap(bool all);
  void wake();

  server_options opts_;
  handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop, or a connection ended and wants joining
  std::uint16_t port_ = 0;
  void* tls_ctx_ = nullptr;  // SSL_CTX*, kept out of this header
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint32_t> active_{0};
  std::mutex mu_;
  std::list<std::shared_ptr<connection>> conns_;
  std::thread acceptor_;
};

}  // namespace troupe::http
