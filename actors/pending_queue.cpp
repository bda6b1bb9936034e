#include "actors/pending_queue.hpp"

#include <algorithm>
#include <tuple>

namespace troupe {
namespace {

// (created_at_ns, id) ascending: jobs::creation_order.
bool before(std::int64_t ca, const std::string& ia, std::int64_t cb, const std::string& ib) {
  return ca != cb ? ca < cb : ia < ib;
}

}  // namespace

bool pending_queue::push(const std::string& id, std::int64_t created_at_ns) {
  if (!index_.try_emplace(id, created_at_ns).second) return false;
  if (order_.empty() || before(order_.back().created_at_ns, order_.back().id, created_at_ns, id)) {
    order_.push_back({created_at_ns, id, true});  // the usual case: the newest job
  } else if (before(created_at_ns, id, order_.front().created_at_ns, order_.front().id)) {
    order_.push_front({created_at_ns, id, true});  // older than every queued job (re-queued)
  } else {
    // After any entry with the same key (a dead one of this very job).
    auto pos = std::upper_bound(order_.begin(), order_.end(), std::tie(created_at_ns, id),
                                [](const auto& key, const entry& e) {
                                  return before(std::get<0>(key), std::get<1>(key), e.created_at_ns, e.id);
                                });
    order_.insert(pos, entry{created_at_ns, id, true});
  }
  return true;
}

bool pending_queue::erase(const std::string& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  const auto created_at_ns = it->second;
  auto pos = std::lower_bound(order_.begin(), order_.end(), std::tie(created_at_ns, id),
                              [](const entry& e, const auto& key) {
                                return before(e.created_at_ns, e.id, std::get<0>(key), std::get<1>(key));
                              });
  // Dead entries of the same job (queued, removed, queued again) may come
  // first; exactly one entry with this key is live.
  for (; pos != order_.end() && pos->created_at_ns == created_at_ns && pos->id == id; ++pos) {
    if (pos->live) {
      pos->live = false;
      ++dead_;
      break;
    }
  }
  index_.erase(it);
  trim();
  return true;
}

void pending_queue::clear() {
  order_.clear();
  index_.clear();
  dead_ = 0;
}

void pending_queue::trim() {
  while (!order_.empty() && !order_.front().live) {
    order_.pop_front();
    --dead_;
  }
  while (!order_.empty() && !order_.back().live) {
    order_.pop_back();
    --dead_;
  }
  if (dead_ > compact_above && dead_ > index_.size()) {
    order_.erase(std::remove_if(order_.begin(), order_.end(), [](const entry& e) { return !e.live; }), order_.end());
    dead_ = 0;
  }
}

}  // namespace troupe
