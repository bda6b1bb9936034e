// The replicated job state machine (runtime/jobs/job_table) fed a log the
// fuzzer writes: every command kind, with job ids from a small pool (so
// commands meet the same jobs), small times (so creation times and
// completions tie), and raw protobuf bytes besides; interleaved with
// snapshots taken a piece at a time, listings and forget_workers.
//
// Contract checked after every step (job_table.hpp):
//   - apply never throws; a refused command reports no change and changes
//     nothing but the applied index (a replayed index not even that);
//   - the reported changes are the whole truth: a model kept only from them
//     equals the table, each status change is one the lifecycle allows, and
//     a terminal job never changes again;
//   - the indexes agree with the jobs (counts, with_status, on_worker,
//     oldest_completion, find), and list() pages through exactly the jobs
//     its filters select, in creation order, with the right total;
//   - a snapshot taken a piece at a time while commands apply gives the
//     bytes snapshot() gave at its begin.
// And at the end, what nodes must agree on: the same log applied again to a
// fresh table, and the rest of the log applied to a table restored from a
// snapshot taken midway (a follower that installed it), give the same
// results entry by entry and the same table, every field of every job.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "runtime/jobs/job_table.hpp"
#include "runtime/jobs/snapshot_codec.hpp"

namespace troupe::fuzz {
namespace {

using jobs::job;
using jobs::job_status;

constexpr const char* target = "apply_fuzz";
constexpr std::int64_t ms = 1'000'000;

void check(bool ok, const std::string& why) { require(ok, target, why); }

struct reader {
  const std::uint8_t* p;
  std::size_t n;
  bool done() const { return n == 0; }
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
};

// The fuzzer's vocabulary: a few ids, workers and times, so that commands
// collide on the same jobs and tie on the same instants.
std::string job_id(std::uint8_t b) { return "job-" + std::string(1, static_cast<char>('a' + b % 10)); }
std::uint64_t worker(std::uint8_t b) { return b % 5; }  // 0 too: refused where a command names a worker
std::int64_t instant(std::uint8_t b) { return static_cast<std::int64_t>(b % 24) * (ms / 2); }

logpb::AssignJobCommand assignment(reader& in) {
  logpb::AssignJobCommand a;
  a.set_job_id(job_id(in.byte()));
  a.set_worker_id(worker(in.byte()));
  a.set_assigned_at_ns(instant(in.byte()));
  return a;
}

logpb::RequeueJobCommand requeue(reader& in) {
  logpb::RequeueJobCommand r;
  r.set_job_id(job_id(in.byte()));
  const std::uint8_t b = in.byte();
  if (b & 1) r.set_reason("worker 2 is gone");
  r.set_max_attempts((b >> 1) % 4);
  r.set_at_ns(instant(in.byte()));
  return r;
}

void status_update(reader& in, logpb::JobStatusUpdate& u) {
  u.set_job_id(job_id(in.byte()));
  const std::uint8_t b = in.byte();
  u.set_status(static_cast<scheduler::JobStatus>(b % 8));  // 7: a value this build does not know
  u.set_executed_by(worker(in.byte()));
  u.set_attempt(in.byte() % 4);
  const std::uint8_t t = in.byte();
  if (t & 1) u.set_exit_code(static_cast<std::int32_t>(t >> 4) - 2);
  if (t & 2) u.set_completed_at_ms(t >> 3);  // the older proposers' time, used when at_ns is 0
  if (t & 4) u.set_at_ns(instant(in.byte()));
  if (t & 8) u.set_started_at_ns(instant(in.byte()));
  if (b & 8) u.set_stdout_inline("out");
  if (b & 16) u.set_stderr_inline(std::string("e\0r", 3));
  u.set_output_truncated(b & 32);
  if (b & 64) u.set_error("exit status 1");
}

// One command from the input, or nullopt for the raw bytes that did not parse.
std::optional<logpb::Command> next_command(std::uint8_t op, reader& in) {
  logpb::Command c;
  switch (op) {
    case 0:
    case 1: {
      auto* s = c.mutable_submit_job();
      s->set_job_id(job_id(in.byte()));
      static const char* const commands[] = {"", "echo Hi", "ECHO hi; true", "true"};
      const std::uint8_t b = in.byte();
      s->set_command(commands[b % 4]);
      const std::uint8_t t = in.byte();
      if (b & 4) s->set_created_at_ms(t % 12);  // an older proposer: no nanoseconds
      else s->set_created_at_ns(instant(t));
      if (b & 8) s->set_image("busybox");
      s->set_timeout_s((b >> 4) % 3);
      const std::uint8_t m = in.byte();
      s->set_max_active(m % 5);
      s->set_assign_to(m & 8 ? worker(m >> 4) : 0);
      break;
    }
    case 2: *c.mutable_assign_job() = assignment(in); break;
    case 3: {
      auto* a = c.mutable_assign_jobs();
      for (int n = in.byte() % 4; n > 0; --n) *a->add_assignments() = assignment(in);
      break;
    }
    case 4:
    case 5: {
      auto* batch = c.mutable_batch_update_job_status();
      for (int n = in.byte() % 4; n > 0; --n) status_update(in, *batch->add_updates());
      break;
    }
    case 6: {
      auto* x = c.mutable_cancel_job();
      x->set_job_id(job_id(in.byte()));
      const std::uint8_t t = in.byte();
      if (t & 1) x->set_cancelled_at_ms(t >> 4);
      else x->set_cancelled_at_ns(instant(t >> 1));
      break;
    }
    case 7: *c.mutable_requeue_job() = requeue(in); break;
    case 8: {
      auto* r = c.mutable_requeue_jobs();
      for (int n = in.byte() % 4; n > 0; --n) *r->add_requeues() = requeue(in);
      break;
    }
    case 9: c.mutable_register_worker()->set_worker_id(worker(in.byte())); break;
    case 10: {
      const std::uint8_t t = in.byte();
      c.mutable_evict_jobs()->set_completed_before_ns(t == 255 ? -1 : instant(t));
      break;
    }
    case 11: {
      const std::uint8_t b = in.byte();
      c.mutable_set_worker_draining()->set_worker_id(worker(b));
      c.mutable_set_worker_draining()->set_draining(b & 8);
      break;
    }
    case 12: {
      // Whatever the bytes say: other fields, ids outside the pool, extreme
      // times and statuses. An entry in the log always parsed on the leader,
      // so bytes that do not parse are no entry.
      std::size_t len = std::min<std::size_t>(in.byte() % 64, in.n);
      const bool ok = c.ParseFromArray(in.p, static_cast<int>(len));
      in.p += len;
      in.n -= len;
      if (!ok) return std::nullopt;
      break;
    }
    default: break;  // no kind: refused as malformed, the entry consumed
  }
  return c;
}

using model = std::map<std::string, job>;

bool legal(job_status from, job_status to) {
  using s = job_status;
  switch (from) {
    case s::pending: return to == s::assigned || to == s::cancelled;
    case s::assigned:
      return to == s::running || to == s::completed || to == s::failed || to == s::cancelled || to == s::pending;
    case s::running: return to == s::completed || to == s::failed || to == s::cancelled || to == s::pending;
    default: return false;
  }
}

std::string describe(const job& j) {
  return j.id + " (" + jobs::to_string(j.status) + ", worker " + std::to_string(j.assigned_worker) + ", attempt " +
         std::to_string(j.attempts) + ")";
}

// Folds one command's reported changes into the model, checking each.
void follow(model& m, std::set<std::uint64_t>& draining, std::uint64_t index, const jobs::apply_result& r) {
  for (const jobs::job_change& ch : r.changes) {
    check(ch.index == index, "a change reported under another index");
    auto it = m.find(ch.after.id);
    switch (ch.kind) {
      case jobs::change_kind::created:
        check(it == m.end(), "created a job that exists: " + ch.after.id);
        check(ch.after.status == job_status::pending && ch.after.attempts == 0 && ch.after.updated_index == index,
              "a new job that is not pending, fresh and stamped: " + describe(ch.after));
        m.emplace(ch.after.id, ch.after);
        break;
      case jobs::change_kind::updated: {
        check(it != m.end(), "updated a job the changes never created: " + ch.after.id);
        const job& was = it->second;
        check(ch.before == was.status, "an update's before is not what the job was: " + describe(was));
        check(legal(was.status, ch.after.status),
              std::string("illegal transition ") + jobs::to_string(was.status) + " -> " +
                  jobs::to_string(ch.after.status) + " of " + ch.after.id);
        const bool assigned_now = was.status == job_status::pending && ch.after.status == job_status::assigned;
        check(ch.after.attempts == was.attempts + (assigned_now ? 1 : 0), "attempts moved wrongly: " + describe(ch.after));
        check(ch.after.updated_index == index, "an updated job not stamped with its index: " + describe(ch.after));
        check(ch.after.id == was.id && ch.after.command == was.command && ch.after.image == was.image &&
                  ch.after.created_at_ns == was.created_at_ns && ch.after.timeout_s == was.timeout_s,
              "a job's submitted fields changed: " + ch.after.id);
        check(!jobs::is_terminal(ch.after.status) || ch.after.completed_at_ns.has_value(),
              "a terminal job without a completion time: " + describe(ch.after));
        it->second = ch.after;
        break;
      }
      case jobs::change_kind::evicted:
        check(it != m.end() && it->second == ch.after, "evicted a job not as the model had it: " + ch.after.id);
        check(jobs::is_terminal(ch.after.status), "evicted an active job: " + describe(ch.after));
        m.erase(it);
        break;
    }
  }
  for (const jobs::worker_change& w : r.workers) {
    check(w.index == index && w.worker_id != 0, "a worker change with a wrong index or worker 0");
    const bool changed = w.draining ? draining.insert(w.worker_id).second : draining.erase(w.worker_id) != 0;
    check(changed, "a worker change that changes nothing: worker " + std::to_string(w.worker_id));
  }
}

std::vector<job> in_creation_order(const model& m) {
  std::vector<job> out;
  for (const auto& [id, j] : m) out.push_back(j);
  std::sort(out.begin(), out.end(), [](const job& a, const job& b) {
    return a.created_at_ns != b.created_at_ns ? a.created_at_ns < b.created_at_ns : a.id < b.id;
  });
  return out;
}

std::vector<job> copies(const std::vector<const job*>& v) {
  std::vector<job> out;
  for (const job* j : v) out.push_back(*j);
  return out;
}

template <class Pred>
std::vector<job> where(const std::vector<job>& v, Pred p) {
  std::vector<job> out;
  std::copy_if(v.begin(), v.end(), std::back_inserter(out), p);
  return out;
}

// The table's indexes against the model.
void check_indexes(const jobs::job_table& t, const model& m, const std::set<std::uint64_t>& draining) {
  const std::vector<job> all = in_creation_order(m);
  check(copies(t.all()) == all, "the table is not what its reported changes made it");
  check(t.size() == all.size(), "size() disagrees with all()");
  check(t.draining_workers() == draining, "the drained workers are not what the worker changes said");
  std::size_t active = 0;
  std::optional<std::int64_t> oldest;
  std::set<std::uint64_t> workers;
  for (const job& j : all) {
    check(t.find(j.id) && *t.find(j.id) == j, "find() misses " + j.id);
    if (!jobs::is_terminal(j.status)) ++active;
    else if (!oldest || j.completed_at_ns.value_or(0) < *oldest) oldest = j.completed_at_ns.value_or(0);
    workers.insert(j.assigned_worker);
  }
  for (std::uint8_t b = 0; b < 10; ++b)
    if (!m.count(job_id(b))) check(t.find(job_id(b)) == nullptr, "find() gives a job that is gone: " + job_id(b));
  check(t.active_count() == active, "active_count() disagrees");
  check(t.oldest_completion() == oldest, "oldest_completion() disagrees");
  for (int s = 0; s < jobs::job_status_count; ++s) {
    const auto st = static_cast<job_status>(s);
    const auto expected = where(all, [&](const job& j) { return j.status == st; });
    check(t.count(st) == expected.size(), std::string("count() disagrees for ") + jobs::to_string(st));
    check(copies(t.with_status(st)) == expected, std::string("with_status() disagrees for ") + jobs::to_string(st));
  }
  workers.insert({1, 2, 3, 4});
  for (std::uint64_t w : workers) {
    const auto expected = where(all, [&](const job& j) { return !jobs::is_terminal(j.status) && j.assigned_worker == w; });
    check(w == 0 || copies(t.on_worker(w)) == expected, "on_worker() disagrees for worker " + std::to_string(w));
  }
}

// One query from the input, paged through to its end, against the model.
void check_listing(const jobs::job_table& t, const model& m, reader& in) {
  jobs::list_query q;
  const std::uint8_t a = in.byte(), b = in.byte(), c = in.byte();
  const bool bad_status = a % 9 == 8;
  q.status = static_cast<job_status>(a % 9 == 8 ? 9 : a % 8 == 7 ? 0 : a % 8);
  q.worker = worker(a >> 3);
  static const char* const needles[] = {"", "HI", "ech", "zz"};
  q.command_substring = needles[b % 4];
  q.created_after_ms = (b >> 2) % 4 == 0 ? 0 : static_cast<std::int64_t>((b >> 2) % 8) - 1;
  q.created_before_ms = (b >> 5) == 0 ? 0 : static_cast<std::int64_t>(b >> 5) + 1;
  q.page_size = c % 4;
  if (bad_status) {
    bool threw = false;
    try {
      t.list(q);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    check(threw, "list() took an unknown status");
    return;
  }
  if (c & 4) {
    q.page_token = "not a token";
    bool threw = false;
    try {
      t.list(q);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    check(threw, "list() took a page token it never made");
    q.page_token.clear();
  }
  const std::int64_t lo = q.created_after_ms != 0 ? q.created_after_ms * ms : std::numeric_limits<std::int64_t>::min();
  const std::int64_t hi =
      q.created_before_ms != 0 ? q.created_before_ms * ms + ms - 1 : std::numeric_limits<std::int64_t>::max();
  std::string needle = q.command_substring;
  for (char& ch : needle) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const auto expected = where(in_creation_order(m), [&](const job& j) {
    std::string cmd = j.command;
    for (char& ch : cmd) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return (q.status == job_status::unspecified || j.status == q.status) &&
           (q.worker == 0 || j.assigned_worker == q.worker || j.executed_by == q.worker) &&
           cmd.find(needle) != std::string::npos && j.created_at_ns >= lo && j.created_at_ns <= hi;
  });
  const std::size_t page = q.page_size == 0 ? jobs::default_page_size : q.page_size;
  std::vector<job> seen;
  for (std::size_t pages = 0; pages <= expected.size(); ++pages) {
    const jobs::list_result r = t.list(q);
    check(r.total_count == expected.size(), "list()'s total_count disagrees");
    check(r.jobs.size() <= page, "list() gave more than a page");
    seen.insert(seen.end(), r.jobs.begin(), r.jobs.end());
    if (r.next_page_token.empty()) break;
    check(r.jobs.size() == page, "list() gave a short page with a next page after it");
    q.page_token = r.next_page_token;
  }
  check(seen == expected, "list()'s pages are not the jobs its filters select");
}

// Snapshots a piece at a time, beside what snapshot() gave at their begin.
struct in_progress {
  jobs::job_table::snapshot_id id;
  std::string expected, got;
  bool whole = false;
};

void snapshot_step(jobs::job_table& t, std::vector<in_progress>& snaps, reader& in) {
  const std::uint8_t b = in.byte();
  if (b % 4 == 0 || snaps.empty()) {
    if (snaps.size() < 3) snaps.push_back({t.begin_snapshot(), t.snapshot(), {}, false});
    return;
  }
  const std::size_t which = (b >> 2) % snaps.size();
  in_progress& s = snaps[which];
  switch (b % 4) {
    case 1: {
      const std::uint8_t lim = in.byte();
      const bool whole = t.continue_snapshot(s.id, lim % 4, lim & 4 ? SIZE_MAX : (lim >> 3) * 8);
      check(!s.whole || whole, "continue_snapshot() was whole, then not");
      s.whole = whole;
      return;
    }
    case 2: {
      s.got += t.take_snapshot_piece(s.id);
      if (!s.whole) return;
      check(!t.snapshot_in_progress(s.id), "a snapshot still in progress after its last piece");
      check(s.got == s.expected, "a snapshot made in pieces differs from snapshot() at its begin");
      break;
    }
    default:
      t.cancel_snapshot(s.id);
      check(!t.snapshot_in_progress(s.id), "a cancelled snapshot is still in progress");
      break;
  }
  snaps.erase(snaps.begin() + static_cast<std::ptrdiff_t>(which));
}

std::string same_results(const jobs::apply_result& a, const jobs::apply_result& b) {
  if (a.refused != b.refused || a.error != b.error) return "refusal \"" + a.error + "\" against \"" + b.error + "\"";
  if (a.changes.size() != b.changes.size() || a.workers.size() != b.workers.size()) return "a different number of changes";
  for (std::size_t i = 0; i < a.changes.size(); ++i) {
    const auto &x = a.changes[i], &y = b.changes[i];
    if (x.index != y.index || x.kind != y.kind || x.after != y.after ||
        (x.kind == jobs::change_kind::updated && x.before != y.before))
      return "change " + std::to_string(i) + " of " + x.after.id;
  }
  for (std::size_t i = 0; i < a.workers.size(); ++i)
    if (a.workers[i].worker_id != b.workers[i].worker_id || a.workers[i].draining != b.workers[i].draining)
      return "worker change " + std::to_string(i);
  if (a.update_errors.size() != b.update_errors.size()) return "a different number of item outcomes";
  for (std::size_t i = 0; i < a.update_errors.size(); ++i)
    if (a.update_errors[i].code != b.update_errors[i].code || a.update_errors[i].message != b.update_errors[i].message)
      return "item " + std::to_string(i) + ": \"" + a.update_errors[i].message + "\" against \"" +
             b.update_errors[i].message + "\"";
  return {};
}

struct entry {
  std::uint64_t index;
  logpb::Command cmd;
  jobs::apply_result result;
};

// Applies log[from..] to `t`, comparing each result with the original's.
void replay(jobs::job_table& t, const std::vector<entry>& log, std::size_t from, const char* who) {
  for (std::size_t i = from; i < log.size(); ++i) {
    const std::string diff = same_results(t.apply(log[i].index, log[i].cmd), log[i].result);
    check(diff.empty(), std::string(who) + ": entry " + std::to_string(log[i].index) + " applied differently: " + diff);
  }
}

std::size_t batch_items(const logpb::Command& c) {
  switch (c.kind_case()) {
    case logpb::Command::kBatchUpdateJobStatus: return static_cast<std::size_t>(c.batch_update_job_status().updates_size());
    case logpb::Command::kAssignJobs: return static_cast<std::size_t>(c.assign_jobs().assignments_size());
    case logpb::Command::kRequeueJobs: return static_cast<std::size_t>(c.requeue_jobs().requeues_size());
    default: return 0;
  }
}

}  // namespace

void apply_one(const std::uint8_t* data, std::size_t size) {
  reader in{data, size};
  jobs::job_table t;
  model m;
  std::set<std::uint64_t> draining, workers;
  std::vector<entry> log;
  std::vector<std::pair<std::size_t, std::string>> checkpoints;  // (entries before it, snapshot())
  std::optional<std::string> start;  // the table the log starts from, when not an empty one
  std::vector<in_progress> snaps;

  for (int step = 0; step < 2048 && !in.done(); ++step) {
    const std::uint8_t op = in.byte() % 18;
    if (op == 14) {
      snapshot_step(t, snaps, in);
      continue;
    }
    if (op == 15) {
      check_listing(t, m, in);
      continue;
    }
    if (op == 16) {
      if (checkpoints.size() < 4) checkpoints.emplace_back(log.size(), t.snapshot());
      continue;
    }
    if (op == 17) {
      // A cluster seeded from a backup: every held job back to pending. Not
      // an entry, so the log starts again from this table.
      const std::size_t held = t.count(job_status::assigned) + t.count(job_status::running);
      check(t.forget_workers() == held, "forget_workers() counted wrongly");
      for (auto& [id, j] : m)
        if (j.status == job_status::assigned || j.status == job_status::running) {
          j.status = job_status::pending;
          j.assigned_worker = j.executed_by = 0;
          j.assigned_at_ns = 0;
          j.started_at_ns.reset();
        }
      draining.clear();
      check_indexes(t, m, draining);
      log.clear();
      checkpoints.clear();
      start = t.snapshot();
      continue;
    }
    std::optional<logpb::Command> cmd = next_command(op, in);
    if (!cmd) continue;
    // Now and then the log replays an entry a restored table already has.
    const bool stale = op == 13 && !log.empty() && (in.byte() & 1);
    std::uint64_t index = t.applied_index() + 1;
    if (stale) {
      const entry& old = log[in.byte() % log.size()];
      index = old.index;
      cmd = old.cmd;
    }
    const std::uint64_t before_index = t.applied_index();
    jobs::apply_result r;
    try {
      r = t.apply(index, *cmd);
    } catch (const std::exception& e) {
      contract_broken(target, std::string("apply threw: ") + e.what());
    }
    check(t.applied_index() == (stale ? before_index : index), "the applied index did not follow the entries");
    if (stale) check(r.refused == jobs::refusal::stale, "a replayed entry was not refused as stale");
    if (!r.error.empty() || r.refused != jobs::refusal::none) {
      check(!r.error.empty() && r.refused != jobs::refusal::none, "a refusal without its code or its message");
      check(r.changes.empty() && r.workers.empty(), "a refused command reported changes: " + r.error);
    }
    const std::size_t items = batch_items(*cmd);
    check(r.update_errors.size() == (stale ? 0 : items), "one outcome per item of a batch, none otherwise");
    if (items > 0 && r.refused == jobs::refusal::none)
      check(std::any_of(r.update_errors.begin(), r.update_errors.end(), [](const auto& e) { return e.ok(); }),
            "an accepted batch none of whose items applied");
    if (r.refused == jobs::refusal::none && cmd->kind_case() == logpb::Command::kRegisterWorker)
      workers.insert(cmd->register_worker().worker_id());
    follow(m, draining, index, r);
    check(t.workers() == workers, "the registered workers are not what the accepted registrations said");
    check_indexes(t, m, draining);
    if (!stale) log.push_back({index, *cmd, std::move(r)});
  }

  // Snapshots still in progress finish with the table as it is now.
  for (auto& s : snaps) {
    check(t.continue_snapshot(s.id, SIZE_MAX), "continue_snapshot() without a limit did not finish");
    s.got += t.take_snapshot_piece(s.id);
    check(s.got == s.expected, "a snapshot made in pieces differs from snapshot() at its begin");
  }
  const std::string final_bytes = t.snapshot();
  check(jobs::decode_snapshot(final_bytes).applied_index == t.applied_index(), "the table's snapshot does not decode");

  // What the nodes must agree on. A table that starts where the log starts
  // (a fresh one, or the one forget_workers left) applies it the same way...
  jobs::job_table again;
  if (start) again.restore(*start);
  replay(again, log, 0, "the same log again");
  check(again.snapshot() == final_bytes && copies(again.all()) == copies(t.all()),
        "the same log applied again gave another table");
  // ...and so does a follower that installed a snapshot midway.
  for (const auto& [from, bytes] : checkpoints) {
    jobs::job_table follower;
    follower.restore(bytes);
    replay(follower, log, from, "restored from a snapshot");
    check(follower.snapshot() == final_bytes && copies(follower.all()) == copies(t.all()),
          "a table restored from a snapshot and fed the rest of the log differs");
  }
}

TROUPE_FUZZ_ENTRY(apply_one)

}  // namespace troupe::fuzz
