#include "transport/wire_tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "transport/openssl_error.hpp"
#include "transport/peer_identity.hpp"

namespace troupe::transport {

namespace {

SSL_CTX* make_context(const config::tls_options& tls, bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) throw std::runtime_error("raft wire TLS: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);  // both ends are troupe nodes of one release or later
  // A peer that stops without close_notify (kill -9, a restart) has closed
  // the connection, not broken TLS.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // A frame may be written in parts, from a buffer that grows (the link's
  // queue) between attempts.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // No session tickets: a link lives as long as the peer does, and tickets
  // would be bytes the dialer reads and discards.
  if (server) SSL_CTX_set_num_tickets(ctx, 0);
  const char* failed = nullptr;
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1)
    failed = "[tls].cert_file";
  else if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
           SSL_CTX_check_private_key(ctx) != 1)
    failed = "[tls].key_file";
  else if (SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) != 1)
    failed = "[tls].ca_file";
  if (failed) {
    const std::string why = openssl_error();
    SSL_CTX_free(ctx);
    throw std::runtime_error(std::string("raft wire TLS: ") + failed + ": " + why);
  }
  // Both ends must present a certificate of the cluster CA; which node it
  // names is checked after the handshake (certified_node).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  return ctx;
}

}  // namespace

wire_tls::wire_tls(const config::tls_options& tls) {
  client_ = make_context(tls, false);
  try {
    server_ = make_context(tls, true);
  } catch (...) {
    SSL_CTX_free(client_);
    throw;
  }
}

wire_tls::~wire_tls() {
  SSL_CTX_free(client_);
  SSL_CTX_free(server_);
}

wire_stream::wire_stream(int fd, const wire_tls* tls, bool server) : fd_(fd) {
  if (!tls) return;
  ssl_ = SSL_new(server ? tls->server() : tls->client());
  if (!ssl_ || SSL_set_fd(ssl_, fd) != 1) {
    error_ = openssl_error();
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    fd_ = -1;  // every call fails
    return;
  }
  if (server)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
}

wire_stream::~wire_stream() {
  if (ssl_) SSL_free(ssl_);
}

wire_stream::status wire_stream::settle(int ret) {
  const int sys_errno = errno;  // callers zero it before the OpenSSL call
  wants_write_ = false;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return status::again;
    case SSL_ERROR_WANT_WRITE: wants_write_ = true; return status::again;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      error_ = "the peer closed the connection";
      return status::closed;
    case SSL_ERROR_SYSCALL:
      error_ = sys_errno ? std::strerror(sys_errno) : "the peer closed the connection";
      ERR_clear_error();
      return sys_errno ? status::failed : status::closed;
    default:
      error_ = openssl_error();
      return status::failed;
  }
}

wire_stream::status wire_stream::handshake() {
  if (fd_ < 0) return status::failed;
  if (!ssl_) return status::ok;
  errno = 0;
  const int r = SSL_do_handshake(ssl_);
  return r == 1 ? status::ok : settle(r);
}

// A recv or send's result; 0 from recv is the peer's close.
wire_stream::io wire_stream::plain(ssize_t r, bool writing) {
  wants_write_ = writing;
  if (r > 0 || (r == 0 && writing)) return {status::ok, static_cast<std::size_t>(r)};
  if (r == 0) {
    error_ = "the peer closed the connection";
    return {status::closed, 0};
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {status::again, 0};
  error_ = std::strerror(errno);
  return {status::failed, 0};
}

wire_stream::io wire_stream::read(char* buf, std::size_t n) {
  if (fd_ < 0) return {status::failed, 0};
  if (!ssl_) return plain(::recv(fd_, buf, n, 0), false);
  errno = 0;
  std::size_t got = 0;
  const int r = SSL_read_ex(ssl_, buf, n, &got);
  return r == 1 ? io{status::ok, got} : io{settle(r), 0};
}

wire_stream::io wire_stream::write(const char* data, std::size_t n) {
  if (fd_ < 0) return {status::failed, 0};
  if (!ssl_) return plain(::send(fd_, data, n, MSG_DONTWAIT | MSG_NOSIGNAL), true);
  errno = 0;
  std::size_t put = 0;
  const int r = SSL_write_ex(ssl_, data, n, &put);
  return r == 1 ? io{status::ok, put} : io{settle(r), 0};
}

bool wire_stream::pending() const { return ssl_ && SSL_pending(ssl_) > 0; }

std::optional<std::uint64_t> wire_stream::certified_node() const {
  if (!ssl_ || SSL_get_verify_result(ssl_) != X509_V_OK) return std::nullopt;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return std::nullopt;
  std::optional<std::uint64_t> found;
  bool ambiguous = false;
  auto consider = [&](const std::string& name) {
    auto id = node_id_of(name);
    if (!id) return;  // DNS:localhost, ...
    if (found && *found != *id) ambiguous = true;
    found = id;
  };
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    consider(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<std::size_t>(ASN1_STRING_length(s))));
  }
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_DNS) continue;
    consider(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                         static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName))));
  }
  GENERAL_NAMES_free(sans);
  return ambiguous ? std::nullopt : found;
}

}  // namespace troupe::transport
