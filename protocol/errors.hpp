// Typed errors for every request a node's actors answer. An actor that cannot
// do what was asked answers with a caf::error of the "troupe" category whose
// code is an errc; the gateways map errc to gRPC codes and HTTP statuses in
// one table each (and CAF's own errors, a timeout or a dead actor, to
// deadline_exceeded / unavailable). A not-the-leader error also carries the
// leader's id and client address, so a gateway can redirect or forward.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace caf {
class actor_system_config;
}

namespace troupe {

enum class errc : std::uint8_t {
  not_leader = 1,       // FAILED_PRECONDITION "Not the leader: ..." plus leader-id / leader-address
  not_found,            // no such job
  invalid_argument,     // the request itself is wrong
  failed_precondition,  // e.g. the job is already terminal
  resource_exhausted,   // proposal queue or active-job cap full
  unavailable,          // no leader, entry replaced by another leader, node stopping
  deadline_exceeded,    // not committed (or not answered) in time
  internal,
  unauthenticated,    // no or unknown token (UNAUTHENTICATED / 401)
  permission_denied,  // a known token whose role does not allow the call (PERMISSION_DENIED / 403)
};

inline constexpr caf::atom_value error_category = caf::atom("troupe");

const char* to_string(errc c);

// The error a failed request answers with.
caf::error make_error(errc code, std::string message);
// "Not the leader: leader is node 2 at 127.0.0.1:50052", or "... the leader is
// unknown" when leader_id is 0.
caf::error not_leader_error(std::uint64_t leader_id, const std::string& leader_address);

// What a gateway needs of any error, troupe's or CAF's.
struct error_info {
  errc code = errc::internal;
  std::string message;
  std::uint64_t leader_id = 0;  // not_leader only; 0 = unknown
  std::string leader_address;
};
error_info describe(const caf::error& e);

// Lets caf::actor_system::render print troupe errors readably.
void register_error_category(caf::actor_system_config& cfg);

}  // namespace troupe
