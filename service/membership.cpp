#include "service/membership.hpp"

#include "actors/raft_node.hpp"
#include "config/timeouts.hpp"
#include "protocol/errors.hpp"
#include "protocol/feature_level.hpp"

namespace troupe {

caf::result<member_result> change_members(node_service_actor::pointer self, const ctx_ptr& c, member_change change) {
  auto rp = self->make_response_promise<member_result>();
  auto propose = [=]() mutable {
    self->request(c->raft, config::member_change_wait(c->cfg), member_atom::value, change)
        .then([=](member_result& r) mutable { rp.deliver(std::move(r)); },
              [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  };
  // Live members only: a dead one cannot misapply the entry, and one that
  // comes back on an older build refuses it and waits for its upgrade. (A
  // follower's tracker knows no one: its raft_node then redirects.)
  self->request(c->tracker, config::query_timeout, workers_atom::value)
      .then(
          [=](const worker_list& wl) mutable {
            // A wire address makes the configuration one only level 5 reads.
            const std::uint32_t needed =
                change.wire_address.empty() ? feature_level_membership : feature_level_member_wire;
            for (const auto& w : wl.workers)
              if (w.alive && w.report.feature_level < needed) {
                rp.deliver(make_error(
                    errc::failed_precondition,
                    "node " + std::to_string(w.report.node_id) + " runs an older build (feature level " +
                        std::to_string(w.report.feature_level) + ") that cannot read " +
                        (change.wire_address.empty() ? "membership changes" : "a member's wire address") +
                        "; finish the rolling upgrade first" +
                        (change.wire_address.empty() ? "" : ", or add the node without its wire")));
                return;
              }
            propose();
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<raft_status> list_members(node_service_actor::pointer self, const ctx_ptr& c, bool local) {
  auto rp = self->make_response_promise<raft_status>();
  self->request(c->raft, config::query_timeout, status_atom::value)
      .then(
          [=](raft_status& rs) mutable {
            if (!local && rs.role != raft::role::leader) {
              rp.deliver(not_leader(c->cfg, rs.leader_id, rs.conf));
              return;
            }
            rp.deliver(std::move(rs));
          },
          [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

}  // namespace troupe
