// Who may call what: the role each client operation needs, and the check of
// a presented "authorization: Bearer <token>" against [[auth.tokens]]. Both
// gateways call check() before anything else and map its errc in their one
// error table (UNAUTHENTICATED / 401, PERMISSION_DENIED / 403). Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "config/node_config.hpp"

namespace troupe::access {

enum class operation {
  get_job,      // GetJobStatus, GET /api/jobs/{id}
  list_jobs,    // ListJobs, GET /api/jobs
  stream_jobs,  // StreamJobs, GET /api/events
  cluster,      // GetClusterStatus, GET /api/cluster, GET /api/topology
  raft_log,     // GetRaftLogEntries, GET /api/raft/log
  metrics,      // GET /metrics
  submit_job,   // SubmitJob, POST /api/jobs
  cancel_job,   // CancelJob, DELETE /api/jobs/{id}
  transfer_leadership,
  drain_node,
  undrain_node,
  save_snapshot,  // AdminService.SaveSnapshot: every job, whoever submitted it
  change_members,  // MembershipService AddMember, RemoveMember
  list_members,    // MembershipService ListMembers
};

config::role required_role(operation op);
const char* to_string(operation op);

// The client a request came from, once its token checked out.
struct principal {
  std::string name;  // the token's name; "anonymous" when auth is off
  config::role grants = config::role::admin;
};

class gate {
 public:
  explicit gate(config::auth_options auth);

  bool enabled() const { return auth_.enabled(); }

  // `authorization` is the raw header / metadata value, if any. With no
  // tokens configured everyone is admin. Otherwise: no or malformed header or
  // an unknown token → errc::unauthenticated; a token whose role is below
  // required_role(op) → errc::permission_denied. The error never echoes the
  // token.
  caf::expected<principal> check(std::optional<std::string_view> authorization, operation op) const;

 private:
  config::auth_options auth_;
};

}  // namespace troupe::access
