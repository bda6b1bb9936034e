// Proposals made on behalf of a worker (its job status batches, a drain) and
// the rule that ends a status batch's retries. Used by both paths a batch can
// take: job_supervisor proposing on the leader itself, and the InternalService
// server proposing what a follower forwarded, so both answer alike.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

#include <caf/error.hpp>

#include "protocol/errors.hpp"
#include "transport/interface.hpp"

namespace troupe {

// Who accepts proposals: raft_node, seen through that one message.
using proposer = caf::typed_actor<caf::replies_to<propose_atom, logpb::Command>::with<proposal_result>>;

// Asks `raft` to propose `cmd`; calls on_commit(commit index) or on_error(error).
// Any requesting actor (typed or not) may use it from its own context.
template <class Self, class OnCommit, class OnError>
void propose(Self* self, const proposer& raft, std::chrono::milliseconds wait, logpb::Command cmd,
             OnCommit on_commit, OnError on_error) {
  self->request(raft, wait, propose_atom::value, std::move(cmd))
      .then(
          [=](const proposal_result& r) { on_commit(r.index); }, [=](caf::error& e) { on_error(e); });
}

// Is this answer final for a status batch? Applied (no error), or refused by
// the job table for good (not_found; conflict and stale refusals arrive as
// failed_precondition; a malformed batch as invalid_argument, which no retry
// can fix). Everything else (not_leader, unavailable, deadline_exceeded,
// resource_exhausted, internal) must be retried.
bool is_final(errc c);

// The ack of batch `seq` given the proposal's error (none = applied).
report_ack acknowledge(std::uint64_t seq, const caf::error& e);

// The log command a status batch becomes.
logpb::Command status_command(const status_batch& b);

}  // namespace troupe
