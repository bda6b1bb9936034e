#include "service/service_context.hpp"

#include "config/timeouts.hpp"

namespace troupe {

void after(node_service_actor::pointer self, std::chrono::milliseconds delay, std::function<void()> fn) {
  self->delayed_send(self, delay, forward_atom::value, std::make_shared<std::function<void()>>(std::move(fn)));
}

void drained_workers(node_service_actor::pointer self, const ctx_ptr& c,
                     std::function<void(const std::set<std::uint64_t>&)> then) {
  struct gather {
    std::set<std::uint64_t> drained;
    std::size_t remaining = 0;
  };
  auto g = std::make_shared<gather>();
  g->remaining = c->cfg.members.size();
  auto one_done = [g, then] {
    if (--g->remaining == 0) then(g->drained);
  };
  for (const auto& m : c->cfg.members)
    self->request(c->table, config::query_timeout, workers_atom::value, std::uint64_t{m.id})
        .then(
            [g, one_done](const worker_load& w) {
              if (w.draining) g->drained.insert(w.worker_id);
              one_done();
            },
            [one_done](caf::error&) { one_done(); });
}

}  // namespace troupe
