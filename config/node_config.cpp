#include "config/node_config.hpp"

namespace troupe::config {

const member* node_config::find_member(std::uint64_t member_id) const {
  for (const member& m : members)
    if (m.id == member_id) return &m;
  return nullptr;
}

const member& node_config::self() const {
  if (const member* m = find_member(id)) return *m;
  throw config_error(source + ": [node].id: " + std::to_string(id) +
                     " is not the id of any [[members]] entry");
}

}  // namespace troupe::config
