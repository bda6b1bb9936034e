#include "node/actor_tree.hpp"

namespace troupe {

void actor_tree::add_external(std::string name, std::string detail) {
  rows_.push_back({std::move(name), caf::actor{}, {}, std::move(detail), {}});
}

std::vector<caf::actor> actor_tree::actors() const {
  std::vector<caf::actor> out;
  for (const auto& r : rows_)
    if (r.handle) out.push_back(r.handle);
  return out;
}

std::string actor_tree::ref(const std::string& name) const {
  for (const auto& r : rows_)
    if (r.name == name && r.handle) return name + "#" + std::to_string(r.handle.id());
  return name + " (not spawned)";
}

topology actor_tree::describe() const {
  topology t;
  for (const auto& r : rows_) {
    topology_entry e;
    e.name = r.name;
    e.actor_id = r.handle ? r.handle.id() : 0;
    e.parent = "bootstrap";
    e.monitors = r.handle ? "monitored by bootstrap" : "not an actor";
    if (!r.note.empty()) e.monitors += "; " + r.note;
    std::string to;
    for (const auto& n : r.sends_to) to += (to.empty() ? "-> " : ", ") + ref(n);
    e.detail = r.detail.empty() ? to : to.empty() ? r.detail : to + "; " + r.detail;
    t.actors.push_back(std::move(e));
  }
  return t;
}

}  // namespace troupe
