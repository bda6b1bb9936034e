// The PEM files of [tls], read once at start-up: the node's certificate and
// key (its identity as a server to clients and peers, and as a client to
// peers) and the cluster CA (the only issuer a peer's certificate may have).
// Reading them up front makes a missing or wrong file stop the node with a
// message naming it, instead of a TLS handshake failing later on every call.
#pragma once

#include <string>

#include "config/node_config.hpp"

namespace troupe::transport {

struct tls_files {
  std::string cert_pem;  // cert_file: node-<id>'s certificate (chain)
  std::string key_pem;   // key_file: its private key
  std::string ca_pem;    // ca_file: the cluster CA
};

// Throws std::runtime_error naming the key and the file when one cannot be
// read, is empty or holds no PEM block of the expected kind.
tls_files load_tls_files(const config::tls_options& tls);

}  // namespace troupe::transport
