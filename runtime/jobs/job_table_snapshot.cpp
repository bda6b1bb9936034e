// The job table's snapshots: at once (snapshot()), or a piece at a time while
// the table goes on applying (begin_snapshot() .. take_snapshot_piece()),
// which gives the same bytes.
#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include <absl/container/flat_hash_set.h>

#include "runtime/jobs/job_table.hpp"
#include "runtime/jobs/snapshot_codec.hpp"

namespace troupe::jobs {

namespace {

list_cursor key_of(const job& j) { return list_cursor{j.created_at_ns, j.id}; }

// Creation order between positions and jobs, without copying an id.
bool less(const list_cursor& a, const list_cursor& b) {
  return creation_order::less(a.created_at_ns, a.id, b.created_at_ns, b.id);
}
bool less(const list_cursor& a, const job& b) { return creation_order::less(a.created_at_ns, a.id, b.created_at_ns, b.id); }
bool less(const job& a, const list_cursor& b) { return creation_order::less(a.created_at_ns, a.id, b.created_at_ns, b.id); }

struct cursor_less {
  bool operator()(const list_cursor& a, const list_cursor& b) const { return less(a, b); }
};

}  // namespace

// A snapshot in progress. It holds the jobs of by_created_ at begin, in that
// order, up to `last`; `done` is the last one encoded. A job still to come
// is either unchanged in the table or, once it changed or went, in `kept`
// as it was (encoded when it changed, not when its turn came).
struct job_table::snapshot_pieces {
  snapshot_builder out;
  std::optional<list_cursor> last;  // nullopt: the table was empty
  std::optional<list_cursor> done;  // nullopt: none encoded yet
  std::map<list_cursor, std::string, cursor_less> kept;
  absl::flat_hash_set<std::string> added;  // ids of jobs added since begin: not in this snapshot
  bool complete = false;

  explicit snapshot_pieces(snapshot_builder b) : out(std::move(b)) {}

  bool still_to_come(const job& j) const {
    if (!last || complete || added.count(j.id)) return false;
    return (!done || less(*done, j)) && !less(*last, j);
  }
};

job_table::job_table() = default;
job_table::~job_table() = default;
job_table::job_table(job_table&&) noexcept = default;
job_table& job_table::operator=(job_table&&) noexcept = default;

std::string job_table::snapshot() const {
  return encode_snapshot(applied_index_, workers_, draining_, all());
}

job_table::snapshot_id job_table::begin_snapshot() {
  auto p = std::make_unique<snapshot_pieces>(
      snapshot_builder(applied_index_, workers_, draining_, by_created_.size()));
  if (!by_created_.empty()) p->last = key_of(*by_created_.rbegin()->j);
  pieces_.emplace_back(++last_snapshot_id_, std::move(p));
  return last_snapshot_id_;
}

void job_table::cancel_snapshot(snapshot_id id) {
  pieces_.erase(std::remove_if(pieces_.begin(), pieces_.end(), [&](const auto& p) { return p.first == id; }),
                pieces_.end());
}

bool job_table::snapshot_in_progress(snapshot_id id) const {
  return std::any_of(pieces_.begin(), pieces_.end(), [&](const auto& p) { return p.first == id; });
}

job_table::snapshot_pieces& job_table::pieces_of(snapshot_id id, const char* caller) {
  for (auto& [pid, p] : pieces_)
    if (pid == id) return *p;
  throw std::logic_error(std::string(caller) + ": snapshot " + std::to_string(id) + " is not in progress");
}

void job_table::keep_for_snapshot(const job* j) {
  std::string encoded;  // the first change keeps it; one encoding for every snapshot that still needs it
  for (auto& [id, p] : pieces_) {
    if (!p->still_to_come(*j)) continue;
    if (encoded.empty()) encoded = encode_job(*j);
    p->kept.emplace(key_of(*j), encoded);
  }
}

void job_table::leave_out_of_snapshot(const job* j) {
  for (auto& [id, p] : pieces_) p->added.insert(j->id);
}

// Merges, in creation order, the jobs still in the table (those added since
// begin left out) with the kept ones, which replace their live version.
bool job_table::continue_snapshot(snapshot_id id, std::size_t max_jobs, std::size_t max_bytes) {
  auto& p = pieces_of(id, "continue_snapshot");
  if (p.complete) return true;
  auto it = p.done ? by_created_.upper_bound(*p.done) : by_created_.begin();
  const job* last_live = nullptr;  // the last job encoded from the table in this call, if it came last
  for (std::size_t n = 0; n < max_jobs && p.out.pending_bytes() < max_bytes; ++n) {
    while (!p.added.empty() && it != by_created_.end() && p.added.count(it->j->id)) ++it;
    const bool live = p.last && it != by_created_.end() && !less(*p.last, *it->j);
    const auto k = p.kept.begin();
    if (!live && k == p.kept.end()) {
      p.complete = true;
      break;
    }
    if (k != p.kept.end() && (!live || !less(*it->j, k->first))) {
      if (live && !less(k->first, *it->j)) ++it;  // the same job: its kept version
      p.out.add_encoded(k->second);
      p.done = k->first;
      p.kept.erase(k);
      last_live = nullptr;
    } else {
      p.out.add(*it->j);
      last_live = it->j;
      ++it;
    }
  }
  if (last_live) p.done = key_of(*last_live);
  return p.complete;
}

std::string job_table::take_snapshot_piece(snapshot_id id) {
  auto& p = pieces_of(id, "take_snapshot_piece");
  if (!p.complete) return p.out.take();
  std::string last = p.out.finish();
  cancel_snapshot(id);
  return last;
}

}  // namespace troupe::jobs
