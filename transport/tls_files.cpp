#include "transport/tls_files.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace troupe::transport {
namespace {

// A certificate or key is a few KiB; anything this large is the wrong file.
constexpr std::size_t max_pem_bytes = 1 << 20;

std::string read_pem(const char* key, const std::string& path, const char* marker, const char* kind) {
  auto fail = [&](const std::string& why) {
    return std::runtime_error("[tls] " + std::string(key) + " \"" + path + "\": " + why);
  };
  std::ifstream f(path, std::ios::binary);
  if (!f) throw fail(std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream s;
  s << f.rdbuf();
  std::string pem = s.str();
  if (pem.empty()) throw fail("file is empty");
  if (pem.size() > max_pem_bytes) throw fail("larger than 1 MiB; not a PEM " + std::string(kind));
  if (pem.find(marker) == std::string::npos)
    throw fail("no PEM " + std::string(kind) + " in it (expected a line containing \"" + marker + "\")");
  return pem;
}

}  // namespace

tls_files load_tls_files(const config::tls_options& tls) {
  tls_files out;
  out.cert_pem = read_pem("cert_file", tls.cert_file, "-----BEGIN CERTIFICATE-----", "certificate");
  // "BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY"...
  out.key_pem = read_pem("key_file", tls.key_file, "PRIVATE KEY-----", "private key");
  out.ca_pem = read_pem("ca_file", tls.ca_file, "-----BEGIN CERTIFICATE-----", "CA certificate");
  return out;
}

}  // namespace troupe::transport
