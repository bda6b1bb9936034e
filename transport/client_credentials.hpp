// Channel credentials for a client of a troupe cluster (the CLI, the load
// generator, the tests): TLS trusting only the cluster CA, with an optional
// client certificate, or plaintext when no CA is given. One place, so every
// client reads and checks its PEM files the same way.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

namespace troupe::transport {

// A PEM file's text. Throws std::invalid_argument "<path>: cannot open: ..."
// or "<path>: not a PEM file".
std::string read_pem_file(const std::string& path);

// Insecure when ca_file is empty. cert_file and key_file go together.
// Throws std::invalid_argument naming the problem.
std::shared_ptr<grpc::ChannelCredentials> client_credentials(const std::string& ca_file,
                                                             const std::string& cert_file = {},
                                                             const std::string& key_file = {});

}  // namespace troupe::transport
