#include "actors/pending_queue.hpp"

namespace troupe {

bool pending_queue::push(const std::string& id, std::int64_t created_at_ns) {
  if (!index_.try_emplace(id, created_at_ns).second) return false;
  order_.emplace(created_at_ns, id);
  return true;
}

bool pending_queue::erase(const std::string& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  order_.erase(std::make_pair(it->second, id));
  index_.erase(it);
  return true;
}

void pending_queue::clear() {
  order_.clear();
  index_.clear();
}

}  // namespace troupe
