#include "runtime/raft/log.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace troupe::raft {

raft_log::raft_log(snapshot_meta snap, std::vector<entry> entries, index_t commit)
    : snap_(std::move(snap)), ents_(std::move(entries)) {
  for (std::size_t k = 0; k < ents_.size(); ++k) {
    if (ents_[k].index != snap_.index + 1 + k) {
      throw std::invalid_argument("raft_log: restored entry " + std::to_string(k) + " has index " +
                                  std::to_string(ents_[k].index) + ", expected " +
                                  std::to_string(snap_.index + 1 + k));
    }
  }
  // A persisted commit can never exceed what was persisted with it, but a
  // snapshot always counts as committed.
  committed_ = std::max(snap_.index, std::min(commit, last_index()));
  applied_ = applying_ = snap_.index;
  persisted_ = handed_ = last_index();
}

term_t raft_log::last_term() const { return ents_.empty() ? snap_.term : ents_.back().term; }

std::optional<term_t> raft_log::term_at(index_t i) const {
  if (i == snap_.index) return snap_.term;
  if (i < snap_.index || i > last_index()) return std::nullopt;
  return at(i).term;
}

bool raft_log::match_term(index_t i, term_t t) const {
  auto got = term_at(i);
  return got && *got == t;
}

bool raft_log::is_up_to_date(index_t last_idx, term_t last_t) const {
  return last_t > last_term() || (last_t == last_term() && last_idx >= last_index());
}

std::vector<entry> raft_log::slice(index_t lo, index_t hi, std::size_t max_count,
                                   std::size_t max_bytes) const {
  std::vector<entry> out;
  if (lo < first_index()) return out;
  hi = std::min(hi, last_index() + 1);
  std::size_t bytes = 0;
  for (index_t i = lo; i < hi && out.size() < max_count; ++i) {
    const entry& e = at(i);
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

void raft_log::truncate_after(index_t i) {
  ents_.resize(i - snap_.index);
  handed_ = std::min(handed_, i);
  persisted_ = std::min(persisted_, i);
}

index_t raft_log::append_matching(index_t prev, const std::vector<entry>& ents) {
  for (const entry& e : ents) {
    if (e.index <= snap_.index) continue;  // covered by our snapshot, hence committed
    auto t = term_at(e.index);
    if (t && *t == e.term) continue;
    if (t) {
      if (e.index <= committed_) {
        // Log Matching plus Leader Completeness make this impossible; continuing
        // would silently lose a committed entry.
        throw std::logic_error("raft_log: leader conflicts with committed entry " +
                               std::to_string(e.index));
      }
      truncate_after(e.index - 1);
    }
    ents_.push_back(e);
  }
  return prev + ents.size();
}

void raft_log::append_local(entry e) {
  if (e.index != last_index() + 1) {
    throw std::logic_error("raft_log: local append at " + std::to_string(e.index) + " after " +
                           std::to_string(last_index()));
  }
  ents_.push_back(std::move(e));
}

index_t raft_log::find_conflict_by_term(index_t i, term_t t) const {
  i = std::min(i, last_index());
  while (i > snap_.index) {
    if (at(i).term <= t) return i;
    --i;
  }
  return snap_.index;
}

void raft_log::commit_to(index_t i) {
  if (i > last_index()) {
    throw std::logic_error("raft_log: commit " + std::to_string(i) + " beyond last index " +
                           std::to_string(last_index()));
  }
  committed_ = std::max(committed_, i);
}

std::vector<entry> raft_log::take_unhanded_entries() {
  std::vector<entry> out(ents_.begin() + static_cast<std::ptrdiff_t>(handed_ - snap_.index), ents_.end());
  handed_ = last_index();
  return out;
}

std::vector<entry> raft_log::take_unhanded_committed() {
  std::vector<entry> out;
  for (index_t i = std::max(applying_, snap_.index) + 1; i <= committed_; ++i) out.push_back(at(i));
  applying_ = committed_;
  return out;
}

void raft_log::persisted_to(index_t i, term_t t) {
  // Ignore acknowledgements for entries that were replaced meanwhile.
  if (match_term(i, t)) persisted_ = std::max(persisted_, std::min(i, handed_));
}

void raft_log::applied_to(index_t i) { applied_ = std::max(applied_, i); }

void raft_log::restore(const snapshot_meta& meta) {
  snap_ = meta;
  ents_.clear();
  committed_ = std::max(committed_, meta.index);
  applying_ = std::max(applying_, meta.index);
  handed_ = meta.index;
  persisted_ = std::min(persisted_, meta.index);
}

void raft_log::snapshot_persisted(index_t i) {
  persisted_ = std::max(persisted_, std::min(i, handed_));
  applied_ = std::max(applied_, i);
}

void raft_log::compact(const snapshot_meta& meta) {
  if (meta.index <= snap_.index) return;
  if (meta.index > applied_) {
    throw std::invalid_argument("compact: snapshot index " + std::to_string(meta.index) +
                                " is beyond applied index " + std::to_string(applied_));
  }
  auto t = term_at(meta.index);
  if (!t || *t != meta.term) {
    throw std::invalid_argument("compact: snapshot term " + std::to_string(meta.term) +
                                " does not match log term at index " + std::to_string(meta.index));
  }
  ents_.erase(ents_.begin(), ents_.begin() + static_cast<std::ptrdiff_t>(meta.index - snap_.index));
  snap_ = meta;
}

}  // namespace troupe::raft
