#include "service/membership.hpp"

#include "actors/raft_node.hpp"
#include "config/timeouts.hpp"

namespace troupe {

caf::result<member_result> change_members(node_service_actor::pointer self, const ctx_ptr& c, member_change change) {
  auto rp = self->make_response_promise<member_result>();
  self->request(c->raft, config::member_change_wait(c->cfg), member_atom::value, std::move(change))
      .then([=](member_result& r) mutable { rp.deliver(std::move(r)); },
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
