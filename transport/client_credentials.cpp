#include "transport/client_credentials.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace troupe::transport {

std::string read_pem_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::invalid_argument(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream s;
  s << f.rdbuf();
  if (s.str().find("-----BEGIN") == std::string::npos) throw std::invalid_argument(path + ": not a PEM file");
  return s.str();
}

std::shared_ptr<grpc::ChannelCredentials> client_credentials(const std::string& ca_file, const std::string& cert_file,
                                                             const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) throw std::invalid_argument("a client certificate needs its key, and the other way round");
  if (ca_file.empty()) {
    if (!cert_file.empty()) throw std::invalid_argument("a client certificate is sent over TLS only: give the CA too");
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = read_pem_file(ca_file);
  if (!cert_file.empty()) {
    tls.pem_cert_chain = read_pem_file(cert_file);
    tls.pem_private_key = read_pem_file(key_file);
  }
  return grpc::SslCredentials(tls);
}

}  // namespace troupe::transport
