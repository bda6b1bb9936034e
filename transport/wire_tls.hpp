// The raft wire's bytes on one connection, plain or under TLS. With [tls]
// the wire is mutual TLS with the files gRPC's peer channels use: each end
// presents its node certificate and accepts only one signed by ca_file that
// names a node ("node-<id>", CN or DNS SAN, as transport/peer_identity reads
// gRPC's). The dialer then requires the node it dialled; the listener knows
// which node speaks, and admits only messages from it.
//
// Non-blocking throughout: the dialer's and the listener's epoll loops call
// handshake / read / write again when the socket is ready. Not thread-safe;
// the dialer holds its link's mutex around each call.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/node_config.hpp"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace troupe::transport {

// [tls]'s files loaded into an OpenSSL context for each side.
class wire_tls {
 public:
  // Throws std::runtime_error naming the file OpenSSL refused.
  explicit wire_tls(const config::tls_options& tls);
  ~wire_tls();
  wire_tls(const wire_tls&) = delete;
  wire_tls& operator=(const wire_tls&) = delete;

  SSL_CTX* client() const { return client_; }
  SSL_CTX* server() const { return server_; }

 private:
  SSL_CTX* client_ = nullptr;
  SSL_CTX* server_ = nullptr;
};

// One connection's byte stream over a connected non-blocking socket it does
// not own (its owner closes the fd after destroying this).
class wire_stream {
 public:
  // tls null: plain TCP. Otherwise TLS as the dialer (client) or listener.
  wire_stream(int fd, const wire_tls* tls, bool server);
  ~wire_stream();
  wire_stream(const wire_stream&) = delete;
  wire_stream& operator=(const wire_stream&) = delete;

  enum class status { ok, again, closed, failed };
  struct io {
    status st = status::ok;
    std::size_t bytes = 0;  // with ok
  };

  // ok: the handshake is over (at once for plain TCP); again: call it when
  // the socket is readable, or writable if wants_write().
  status handshake();
  io read(char* buf, std::size_t n);
  io write(const char* data, std::size_t n);
  // Whether the last call that answered `again` waits for the socket to
  // take bytes (else for bytes to arrive: a TLS write may wait on a read).
  bool wants_write() const { return wants_write_; }
  // TLS only: bytes decrypted but not read yet, which epoll cannot report.
  bool pending() const;
  // The node the peer's verified certificate names; nullopt for plain TCP,
  // before the handshake, or a certificate that names no node or two.
  std::optional<std::uint64_t> certified_node() const;
  // Why the last call failed or found the connection closed (OpenSSL's or
  // the system's words).
  const std::string& error() const { return error_; }

 private:
  status settle(int ret);              // an OpenSSL return value as a status
  io plain(ssize_t r, bool writing);   // a recv or send result as an io

  int fd_;
  SSL* ssl_ = nullptr;
  bool wants_write_ = false;
  std::string error_;
};

}  // namespace troupe::transport
