// OpenSSL's error queue as one line, emptied: what the HTTP server's TLS and
// the raft wire's TLS (transport/wire_tls.hpp) report when a call fails.
#pragma once

#include <openssl/err.h>

#include <string>

namespace troupe::transport {

inline std::string openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace troupe::transport
