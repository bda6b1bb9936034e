#include "service/access.hpp"

#include <cctype>

#include "config/secret.hpp"
#include "protocol/errors.hpp"

namespace troupe::access {

config::role required_role(operation op) {
  switch (op) {
    case operation::get_job:
    case operation::list_jobs:
    case operation::stream_jobs:
    case operation::cluster:
    case operation::raft_log:
    case operation::metrics:
    case operation::list_members: return config::role::read;
    case operation::submit_job:
    case operation::cancel_job: return config::role::submit;
    case operation::transfer_leadership:
    case operation::drain_node:
    case operation::undrain_node:
    case operation::save_snapshot: return config::role::admin;
    case operation::change_members: return config::role::admin;
  }
  return config::role::admin;
}

const char* to_string(operation op) {
  switch (op) {
    case operation::get_job: return "read jobs";
    case operation::list_jobs: return "list jobs";
    case operation::stream_jobs: return "stream job events";
    case operation::cluster: return "read the cluster status";
    case operation::raft_log: return "read the Raft log";
    case operation::metrics: return "read metrics";
    case operation::submit_job: return "submit jobs";
    case operation::cancel_job: return "cancel jobs";
    case operation::transfer_leadership: return "transfer leadership";
    case operation::drain_node: return "drain nodes";
    case operation::undrain_node: return "undrain nodes";
    case operation::save_snapshot: return "save snapshots";
    case operation::change_members: return "add or remove cluster members";
    case operation::list_members: return "list cluster members";
  }
  return "do this";
}

gate::gate(config::auth_options auth) : auth_(std::move(auth)) {}

namespace {

// "Bearer <token>", the scheme case-insensitive (RFC 6750 / RFC 7235).
std::optional<std::string_view> bearer_token(std::string_view v) {
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() || v[scheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i]) return std::nullopt;
  v.remove_prefix(scheme.size() + 1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

}  // namespace

caf::expected<principal> gate::check(std::optional<std::string_view> authorization, operation op) const {
  if (!auth_.enabled()) return principal{"anonymous", config::role::admin};
  if (!authorization)
    return make_error(errc::unauthenticated, "authentication required: send \"authorization: Bearer <token>\"");
  const auto token = bearer_token(*authorization);
  if (!token)
    return make_error(errc::unauthenticated, "malformed authorization header: expected \"Bearer <token>\"");
  const std::string digest = config::sha256_hex(std::string(*token));
  const config::auth_token* match = nullptr;
  for (const auto& t : auth_.tokens)  // every token compared: the time taken says nothing about which matched
    if (config::constant_time_equal(t.token_sha256, digest)) match = &t;
  if (!match) return make_error(errc::unauthenticated, "unknown token");
  const config::role needed = required_role(op);
  if (static_cast<int>(match->grants) < static_cast<int>(needed))
    return make_error(errc::permission_denied, "token \"" + match->name + "\" has role " +
                                                   config::to_string(match->grants) + ", which may not " +
                                                   to_string(op) + " (needs role " + config::to_string(needed) + ")");
  return principal{match->name, match->grants};
}

}  // namespace troupe::access
