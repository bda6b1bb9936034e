#include "transport/member_directory.hpp"

namespace troupe::transport {

raft::membership seed_membership(const config::node_config& cfg) {
  raft::membership m;
  for (const auto& s : cfg.members) m.put(raft::member{s.id, true, s.address, s.http_address, s.wire_address});
  return m;
}

member_directory::member_directory(const config::node_config& cfg)
    : self_(cfg.id),
      seed_(cfg),
      // A joining node knows no configuration until the leader sends one.
      conf_(std::make_shared<const raft::membership>(cfg.join ? raft::membership{} : seed_membership(cfg))) {}

std::shared_ptr<const raft::membership> member_directory::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return conf_;
}

bool member_directory::update(const raft::membership& conf) {
  if (conf.empty()) return false;
  auto next = std::make_shared<const raft::membership>(conf);
  std::lock_guard<std::mutex> lock(mutex_);
  if (*conf_ == *next) return false;
  conf_ = std::move(next);
  return true;
}

bool member_directory::accepts(std::uint64_t id) const {
  if (id == 0) return false;
  auto conf = current();
  return !conf->contains(self_) || conf->contains(id);
}

std::string member_directory::address(std::uint64_t id) const {
  auto conf = current();
  if (const auto* m = conf->find(id); m && !m->address.empty()) return m->address;
  const auto* s = seed_.find_member(id);
  return s ? s->address : std::string();
}

std::string member_directory::wire_address(std::uint64_t id) const {
  auto conf = current();
  if (const auto* m = conf->find(id); m && !m->wire_address.empty()) return m->wire_address;
  const auto* s = seed_.find_member(id);
  return s ? s->wire_address : std::string();
}

}  // namespace troupe::transport
