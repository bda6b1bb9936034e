#include "service/service_context.hpp"

#include "config/timeouts.hpp"

namespace troupe {

void after(node_service_actor::pointer self, std::chrono::milliseconds delay, std::function<void()> fn) {
  self->delayed_send(self, delay, forward_atom::value, std::make_shared<std::function<void()>>(std::move(fn)));
}

std::vector<std::uint64_t> member_ids(const ctx_ptr& c, const raft_status& rs) {
  std::vector<std::uint64_t> ids;
  for (const auto& m : rs.conf.members()) ids.push_back(m.id);
  if (rs.conf.empty())
    for (const auto& m : c->cfg.members) ids.push_back(m.id);
  return ids;
}

void drained_workers(node_service_actor::pointer self, const ctx_ptr& c, const raft_status& rs,
                     std::function<void(const std::set<std::uint64_t>&)> then) {
  struct gather {
    std::set<std::uint64_t> drained;
    std::size_t remaining = 0;
  };
  auto g = std::make_shared<gather>();
  const auto ids = member_ids(c, rs);
  g->remaining = ids.size();
  if (ids.empty()) return then(g->drained);
  auto one_done = [g, then] {
    if (--g->remaining == 0) then(g->drained);
  };
  for (auto id : ids)
    self->request(c->table, config::query_timeout, workers_atom::value, id)
        .then(
            [g, one_done](const worker_load& w) {
              if (w.draining) g->drained.insert(w.worker_id);
              one_done();
            },
            [one_done](caf::error&) { one_done(); });
}

}  // namespace troupe
