#include "node/edge_security.hpp"

#include <pwd.h>
#include <unistd.h>

#include "config/host_port.hpp"
#include "runtime/common/log.hpp"
#include "transport/tls_files.hpp"

namespace troupe {
namespace {

std::string user_name() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  return "uid " + std::to_string(::geteuid());
}

}  // namespace

bool loopback_only(const std::string& listen) {
  std::string host;
  try {
    host = config::split_host_port(listen).first;
  } catch (const std::exception&) {
    return false;  // validated earlier; an unparsable address is not known to be safe
  }
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool check_edge_security(const config::node_config& cfg) {
  if (cfg.tls.enabled()) {
    try {
      transport::load_tls_files(cfg.tls);
    } catch (const std::exception& e) {
      TLOG(error, "node") << e.what();
      return false;
    }
  }
  for (const auto& w : exposure_warnings(cfg)) TLOG(warn, "node") << w;
  return true;
}

std::vector<std::string> exposure_warnings(const config::node_config& cfg) {
  std::vector<std::string> out;
  // Without [tls] the raft wire takes any sender's word for who it is; with
  // it, a node certificate of the cluster CA (transport/wire_tls.hpp).
  if (!cfg.wire_listen.empty() && !cfg.tls.enabled() && !loopback_only(cfg.wire_listen))
    out.push_back("SECURITY: the raft wire listener " + cfg.wire_listen +
                  " is reachable beyond loopback and has no TLS: anyone who can reach it can send Raft messages "
                  "as a cluster member; keep it on a network only the nodes reach, or remove [listen].wire");
  if (cfg.tls.enabled() && cfg.auth.enabled()) return out;
  std::string missing = !cfg.tls.enabled() && !cfg.auth.enabled() ? "no [tls] and no [[auth.tokens]]"
                        : !cfg.tls.enabled()                      ? "no [tls]"
                                                                  : "no [[auth.tokens]]";
  for (const auto& [what, listen] : {std::pair<const char*, std::string>{"gRPC", cfg.grpc_listen},
                                     std::pair<const char*, std::string>{"HTTP", cfg.http_listen}}) {
    if (loopback_only(listen)) continue;
    out.push_back(std::string("SECURITY: the ") + what + " listener " + listen + " is reachable beyond loopback with " +
                  missing + ": anyone who can reach " + listen + " can run shell commands as " + user_name() +
                  " on every node" +
                  (cfg.tls.enabled() ? "" : ", read every job's output and impersonate cluster members") +
                  "; configure [tls] and [[auth.tokens]] or listen on 127.0.0.1");
  }
  return out;
}

}  // namespace troupe
