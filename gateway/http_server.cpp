#include "gateway/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "config/host_port.hpp"
#include "runtime/common/log.hpp"
#include "transport/openssl_error.hpp"

namespace troupe::http {
namespace {

using transport::openssl_error;

using clock = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Milliseconds left until `deadline`, for poll(); 0 once it has passed.
int remaining_ms(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

std::string sockaddr_text(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return config::join_host_port(host, ntohs(in->sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return config::join_host_port(host, ntohs(in6->sin6_port));
  }
  return {};
}

std::string error_body(const std::string& message) {
  return nlohmann::json{{"success", false}, {"error", message}}.dump(-1, ' ', false,
                                                                      nlohmann::json::error_handler_t::replace);
}

// A connection's bytes, plain or TLS, with every wait bounded by a deadline.
class io {
 public:
  io(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~io() {
    if (ssl_) SSL_free(ssl_);
  }
  io(const io&) = delete;
  io& operator=(const io&) = delete;

  bool handshake(clock::time_point deadline) {
    if (!ssl_) return true;
    while (true) {
      ERR_clear_error();
      int r = SSL_accept(ssl_);
      if (r == 1) return true;
      if (ssl_wait(r, deadline) != ssl_step::again) return false;
    }
  }

  // >0 bytes read, 0 end of stream or error, -1 deadline passed.
  long read(char* buf, std::size_t n, clock::time_point deadline) {
    while (true) {
      if (ssl_) {
        ERR_clear_error();
        int r = SSL_read(ssl_, buf, static_cast<int>(n));
        if (r > 0) return r;
        switch (ssl_wait(r, deadline)) {
          case ssl_step::again: break;
          case ssl_step::timed_out: return -1;
          case ssl_step::failed: return 0;
        }
      } else {
        auto r = ::recv(fd_, buf, n, 0);
        if (r > 0) return r;
        if (r == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return 0;
        if (!wait(POLLIN, deadline)) return -1;
      }
    }
  }

  bool write(std::string_view data, clock::time_point deadline) {
    while (!data.empty()) {
      if (ssl_) {
        ERR_clear_error();
        int r = SSL_write(ssl_, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20)));
        if (r > 0) {
          data.remove_prefix(static_cast<std::size_t>(r));
          continue;
        }
        if (ssl_wait(r, deadline) != ssl_step::again) return false;
      } else {
        auto r = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (r >= 0) {
          data.remove_prefix(static_cast<std::size_t>(r));
          continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!wait(POLLOUT, deadline)) return false;
      }
    }
    return true;
  }

  // After an SSL call returned `r` without completing: waits for what
  // OpenSSL needs next (either direction, renegotiation included).
  enum class ssl_step { again, timed_out, failed };
  ssl_step ssl_wait(int r, clock::time_point deadline) {
    const int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return ssl_step::failed;
    return wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) ? ssl_step::again : ssl_step::timed_out;
  }

  // Caps what the kernel buffers for this connection's writes.
  void limit_send_buffer(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes); }

  // The peer closed or reset its side (checked without blocking).
  bool peer_closed() const {
    pollfd p{fd_, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
  }

  // After an error response: stop sending, then read and drop what the client
  // is still sending for a moment, so that closing with unread bytes does not
  // reset the connection before the client has read the answer.
  void linger_close() {
    if (ssl_) SSL_shutdown(ssl_);
    ::shutdown(fd_, SHUT_WR);
    const auto deadline = clock::now() + std::chrono::seconds(1);
    char buf[4096];
    std::size_t dropped = 0;
    while (dropped < (1u << 20)) {
      auto r = ::recv(fd_, buf, sizeof buf, 0);
      if (r > 0) {
        dropped += static_cast<std::size_t>(r);
        continue;
      }
      if (r == 0) break;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) break;
      if (!wait(POLLIN, deadline)) break;
    }
  }

 private:
  bool wait(short events, clock::time_point deadline) const {
    while (true) {
      int ms = remaining_ms(deadline);
      if (ms == 0) return false;
      pollfd p{fd_, events, 0};
      int r = ::poll(&p, 1, ms);
      if (r > 0) return true;  // ready, or an error the next call reports
      if (r == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  int fd_;
  SSL* ssl_;
};

std::string serialize_head(const response& res, const request* req, const server_options& opts, bool keep_alive,
                           bool streamed) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + reason_phrase(res.status) + "\r\n";
  for (const auto& [k, v] : opts.default_headers)
    if (!res.has_header(k)) out += k + ": " + v + "\r\n";
  for (const auto& [k, v] : res.headers) out += k + ": " + v + "\r\n";
  if (streamed) {
    if (req && req->minor_version >= 1) out += "Transfer-Encoding: chunked\r\n";
    out += "Connection: close\r\n";
  } else {
    out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
    if (!keep_alive)
      out += "Connection: close\r\n";
    else if (req && req->minor_version == 0)
      out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

// The sink of a streamed response: one chunk per write, each under the write deadline.
class chunk_sink final : public stream_sink {
 public:
  chunk_sink(io& conn, bool chunked, std::chrono::milliseconds write_timeout, const std::atomic<bool>& stopping)
      : io_(conn), chunked_(chunked), timeout_(write_timeout), stopping_(stopping) {}

  bool write(std::string_view data) override {
    if (!ok_ || stopping_.load()) return ok_ = false;
    if (data.empty()) return true;
    const auto deadline = clock::now() + timeout_;
    if (chunked_) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      std::string chunk(size);
      chunk.append(data.data(), data.size());
      chunk += "\r\n";
      ok_ = io_.write(chunk, deadline);
    } else {
      ok_ = io_.write(data, deadline);
    }
    return ok_;
  }
  bool alive() override { return ok_ && !stopping_.load() && !io_.peer_closed(); }
  void finish() {
    if (ok_ && chunked_) io_.write("0\r\n\r\n", clock::now() + timeout_);
  }

 private:
  io& io_;
  bool chunked_;
  std::chrono::milliseconds timeout_;
  const std::atomic<bool>& stopping_;
  bool ok_ = true;
};

}  // namespace

void response::set_header(std::string name, std::string value) {
  headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }),
                headers.end());
  headers.emplace_back(std::move(name), std::move(value));
}

void response::set_content(std::string b, std::string content_type) {
  body = std::move(b);
  set_header("Content-Type", std::move(content_type));
}

bool response::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

struct server::connection {
  int fd = -1;
  std::thread thread;
  std::atomic<bool> done{false};
  clock::time_point accepted;
  std::string local_address;
};

server::server(server_options options, handler h) : opts_(std::move(options)), handler_(std::move(h)) {
  if (opts_.tls.enabled()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) throw std::runtime_error("HTTP TLS: " + openssl_error());
    tls_ctx_ = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, opts_.tls.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, opts_.tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      auto err = openssl_error();
      SSL_CTX_free(ctx);
      throw std::runtime_error("HTTP TLS: cannot load " + opts_.tls.cert_file + " / " + opts_.tls.key_file + ": " + err);
    }
    // OpenSSL writes to the socket with write(), not send(MSG_NOSIGNAL): a
    // client that went away must not kill the node with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
  }
  auto fail = [this](const std::string& why) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (tls_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
    throw std::runtime_error("cannot listen for HTTP on " + opts_.listen + ": " + why);
  };
  std::pair<std::string, std::uint16_t> hp;
  try {
    hp = config::split_host_port(opts_.listen);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.second);
  if (int rc = ::getaddrinfo(hp.first.c_str(), port.c_str(), &hints, &res); rc != 0) fail(::gai_strerror(rc));
  std::string why = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 512) == 0) {
      listen_fd_ = fd;
      break;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0) fail(why);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) fail(std::string("eventfd: ") + std::strerror(errno));
  acceptor_ = std::thread([this] { accept_loop(); });
}

server::~server() {
  stopping_.store(true);
  wake();
  if (acceptor_.joinable()) acceptor_.join();
  {
    // Wake every connection blocked in poll(); streams see stopping_ within a poll interval.
    std::lock_guard<std::mutex> g(mu_);
    for (auto& c : conns_)
      if (!c->done.load()) ::shutdown(c->fd, SHUT_RDWR);
  }
  reap(true);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (tls_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
}

void server::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void server::reap(bool all) {
  std::list<std::shared_ptr<connection>> finished;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->done.load()) {
        finished.push_back(*it);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : finished)
    if (c->thread.joinable()) c->thread.join();
}

// A connection over the cap gets a 503 without a thread of its own: the
// answer fits the empty send buffer of a fresh socket, so it never blocks.
// Over TLS nothing can be said before a handshake, so it is just closed.
void server::refuse(int fd) {
  if (!tls_ctx_) {
    response res;
    res.status = 503;
    res.set_content(error_body("too many HTTP connections open (limit " +
                               std::to_string(opts_.limits.http_connections) + "); retry later"),
                    "application/json");
    res.set_header("Retry-After", "1");
    const std::string text = serialize_head(res, nullptr, opts_, false, false) + res.body;
    [[maybe_unused]] auto r = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(fd, SHUT_WR);
    if (opts_.on_response) opts_.on_response("", 503);
  }
  ::close(fd);
}

void server::accept_loop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stopping_.load()) {
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) {
      TLOG(error, "http_gateway") << "poll on the listener failed: " << std::strerror(errno);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t n;
      [[maybe_unused]] auto rr = ::read(wake_fd_, &n, sizeof n);
      reap(false);
    }
    if (stopping_.load()) break;
    if (!(fds[0].revents & POLLIN)) continue;
    while (true) {
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          TLOG(warn, "http_gateway") << "accept: " << std::strerror(errno) << "; pausing 50 ms";
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        break;
      }
      if (active_.load() >= opts_.limits.http_connections) {
        refuse(fd);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_shared<connection>();
      c->fd = fd;
      c->accepted = clock::now();
      sockaddr_storage local{};
      socklen_t llen = sizeof local;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0) c->local_address = sockaddr_text(local);
      active_.fetch_add(1);
      std::lock_guard<std::mutex> g(mu_);
      conns_.push_back(c);
      try {
        c->thread = std::thread([this, c] { serve(c); });
      } catch (const std::system_error& e) {
        TLOG(warn, "http_gateway") << "cannot start a connection thread: " << e.what();
        conns_.pop_back();
        active_.fetch_sub(1);
        ::close(fd);
      }
    }
  }
}

void server::serve(const std::shared_ptr<connection>& c) {
  SSL* ssl = nullptr;
  if (tls_ctx_) {
    ssl = SSL_new(static_cast<SSL_CTX*>(tls_ctx_));
    if (ssl) SSL_set_fd(ssl, c->fd);
  }
  {
    io conn(c->fd, ssl);
    const auto request_timeout = std::chrono::milliseconds(opts_.limits.http_request_timeout_ms);
    const auto idle_timeout = std::chrono::milliseconds(opts_.limits.http_idle_timeout_ms);
    const connection_info info{c->local_address, ssl != nullptr};
    parser_limits pl;
    pl.max_head_bytes = opts_.limits.http_header_bytes;
    pl.max_headers = opts_.limits.http_headers;
    pl.max_body_bytes = opts_.max_body_bytes;
    request_parser parser(pl);

    // The first request's clock starts at the accept, handshake included.
    auto deadline = c->accepted + request_timeout;
    bool ok = (!tls_ctx_ || ssl) && conn.handshake(deadline);
    bool first = true;
    std::vector<char> buf(16 << 10);

    auto send_error = [&](int status, const std::string& message, const std::string& method) {
      response res;
      res.status = status;
      res.set_content(error_body(message), "application/json");
      conn.write(serialize_head(res, nullptr, opts_, false, false) + res.body, clock::now() + request_timeout);
      if (opts_.on_response) opts_.on_response(method, status);
      conn.linger_close();
    };

    while (ok && !stopping_.load()) {
      // Wait for the request: its whole head and body by the deadline. On a
      // kept-alive connection the next request may take up to the idle
      // timeout to start; its own clock starts with its first byte.
      bool started = first || parser.buffered() > 0;
      if (!first && started) deadline = clock::now() + request_timeout;
      auto status = parser.state();
      bool continue_sent = false;
      while (status == request_parser::status::incomplete) {
        if (parser.head_parsed() && parser.get().expect_continue && !continue_sent) {
          continue_sent = true;
          if (!conn.write("HTTP/1.1 100 Continue\r\n\r\n", deadline)) break;
        }
        const auto wait_until = started ? deadline : clock::now() + idle_timeout;
        long n = conn.read(buf.data(), buf.size(), wait_until);
        if (n <= 0) {
          if (n < 0 && started && parser.buffered() > 0)
            send_error(408, "the request did not arrive within " +
                                std::to_string(opts_.limits.http_request_timeout_ms) + " ms",
                       "");
          break;
        }
        if (!started) {
          started = true;
          deadline = clock::now() + request_timeout;
        }
        status = parser.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      }
      if (status == request_parser::status::failed) {
        send_error(parser.error().status, parser.error().message, "");
        break;
      }
      if (status != request_parser::status::complete) break;
      first = false;

      request& req = parser.get();
      response res;
      try {
        handler_(req, res, info);
      } catch (const std::exception& e) {
        res = response{};
        res.status = 500;
        res.set_content(error_body(std::string("internal error: ") + e.what()), "application/json");
      }
      if (opts_.on_response) opts_.on_response(req.method, res.status);
      const bool keep_alive = req.keep_alive && !res.stream && !stopping_.load();
      const auto write_deadline = clock::now() + request_timeout;
      if (res.stream && req.method != "HEAD") {
        // A stream's reader may stop reading: with the kernel's default (up to
        // 4 MB of send buffer) it would hold that much per stream before a
        // write blocks and its deadline drops the stream.
        conn.limit_send_buffer(256 << 10);
        if (!conn.write(serialize_head(res, &req, opts_, false, true), write_deadline)) break;
        chunk_sink sink(conn, req.minor_version >= 1, request_timeout, stopping_);
        res.stream(sink);
        sink.finish();
        break;
      }
      std::string out = serialize_head(res, &req, opts_, keep_alive, false);
      if (req.method != "HEAD") out += res.body;
      if (!conn.write(out, write_deadline) || !keep_alive) break;
      status = parser.next();
      if (status == request_parser::status::failed) {
        send_error(parser.error().status, parser.error().message, "");
        break;
      }
    }
  }  // io frees the SSL before the fd closes
  {
    std::lock_guard<std::mutex> g(mu_);
    ::close(c->fd);
    c->done.store(true);
  }
  active_.fetch_sub(1);
  wake();
}

}  // namespace troupe::http
