#include "actors/job_table.hpp"

#include <algorithm>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/stateful_actor.hpp>

#include "config/limits.hpp"
#include "protocol/errors.hpp"
#include "runtime/common/log.hpp"

namespace troupe {
namespace {

// The next piece of the compaction in progress; meta.index 0 if none is (a
// snapshot from the leader replaced the table since it began).
snapshot_piece next_snapshot_piece(job_table_state& st) {
  snapshot_piece p;
  if (st.compaction == 0) return p;
  p.meta.index = st.snapshot_index;
  p.last = st.table.continue_snapshot(st.compaction, config::snapshot_piece_jobs, config::snapshot_piece_bytes);
  p.bytes = st.table.take_snapshot_piece(st.compaction);
  if (p.last) st.compaction = 0;
  return p;
}

// The next piece of backup `id`, or an error when it is not in progress: a
// snapshot from the leader replaced the table since it began (the image
// would no longer be one table's), or it never was.
caf::result<backup_piece> next_backup_piece(job_table_state& st, jobs::job_table::snapshot_id id) {
  auto it = st.backups.find(id);
  if (it == st.backups.end())
    return make_error(errc::unavailable, "the backup was dropped: a snapshot from the leader replaced this "
                                         "node's job table meanwhile; retry");
  backup_piece p;
  p.id = id;
  p.index = it->second.index;
  p.term = it->second.term;
  p.job_count = it->second.job_count;
  p.last = st.table.continue_snapshot(id, config::snapshot_piece_jobs, config::snapshot_piece_bytes);
  p.bytes = st.table.take_snapshot_piece(id);
  if (p.last) st.backups.erase(it);
  return p;
}

// One message per applied batch; sent when only drain state changed too, so
// listeners that follow drains (the dispatcher) hear of them at once.
void publish(job_table_actor::stateful_pointer<job_table_state> self, std::vector<jobs::job_change> changes,
             std::vector<jobs::worker_change> workers = {}) {
  if (changes.empty() && workers.empty()) return;
  // One message shared by every listener (each reads it as const&, none
  // changes it): sending the struct would copy every job in it, with its
  // strings, once per listener -- the dispatcher, the supervisor and any
  // watch stream, on every node, for every applied batch. Enqueued directly
  // because a typed actor's send() takes no ready-made message.
  auto msg = caf::make_message(job_changes{std::move(changes), std::move(workers)});
  for (auto& l : self->state.listeners)
    if (auto dest = caf::actor_cast<caf::strong_actor_ptr>(l))
      dest->enqueue(self->ctrl(), caf::make_message_id(), msg, self->context());
}

// What a scoped subscriber asked for, copied from the table now.
listener_view scoped_view(const job_table_state& st, const listener_scope& scope) {
  const jobs::job_table& t = st.table;
  listener_view v;
  v.applied_index = st.applied;
  v.draining = t.draining_workers();
  if (scope.active) {
    std::vector<const jobs::job*> active;
    if (scope.active_on != 0) {
      active = t.on_worker(scope.active_on);  // non-terminal, creation order
    } else {
      for (auto s : {jobs::job_status::pending, jobs::job_status::assigned, jobs::job_status::running}) {
        auto some = t.with_status(s);
        active.insert(active.end(), some.begin(), some.end());
      }
      std::sort(active.begin(), active.end(), [](const jobs::job* a, const jobs::job* b) {
        return jobs::creation_order::less(a->created_at_ns, a->id, b->created_at_ns, b->id);
      });
    }
    v.active.reserve(active.size());
    for (const auto* j : active) v.active.push_back(*j);
  }
  if (scope.finished) {
    for (auto s : {jobs::job_status::completed, jobs::job_status::failed, jobs::job_status::cancelled})
      for (const auto* j : t.with_status(s)) v.finished.emplace_back(j->completed_at_ns.value_or(j->created_at_ns), j->id);
    std::sort(v.finished.begin(), v.finished.end());
  }
  if (scope.ids) {
    auto all = t.all();
    v.ids.reserve(all.size());
    for (const auto* j : all) v.ids.push_back(j->id);
  }
  return v;
}

}  // namespace

job_table_actor::behavior_type job_table(job_table_actor::stateful_pointer<job_table_state> self) {
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto& ls = st.listeners;
    ls.erase(std::remove_if(ls.begin(), ls.end(), [&](const change_listener& l) { return l.address() == dm.source; }),
             ls.end());
    // A backup nobody takes any more would cost every later change a check,
    // and keep the jobs it still needs as they were, for ever.
    for (auto it = st.backups.begin(); it != st.backups.end();) {
      if (it->second.taker != dm.source) {
        ++it;
        continue;
      }
      st.table.cancel_snapshot(it->first);
      it = st.backups.erase(it);
    }
  });
  return {
      [=](apply_atom, entry_batch& batch) -> apply_outcomes {
        auto& st = self->state;
        apply_outcomes out;
        std::vector<jobs::job_change> changes;
        std::vector<jobs::worker_change> workers;
        for (auto& e : batch.entries) {
          if (e.index <= st.applied) continue;  // already covered by a restored snapshot
          st.applied = e.index;
          st.applied_term = e.term;
          if (e.type != raft::entry_type::normal) continue;
          logpb::Command cmd;
          apply_outcome o;
          o.index = e.index;
          if (!cmd.ParseFromString(e.data)) {
            // Cannot happen for entries this cluster wrote; never stop applying over it.
            o.refused = jobs::refusal::malformed;
            o.error = "malformed command in log entry";
            TLOG(error, "job_table") << "entry " << e.index << ": " << o.error;
          } else {
            auto r = st.table.apply(e.index, cmd);
            o.refused = r.refused;
            o.error = std::move(r.error);
            for (auto& c : r.changes) changes.push_back(std::move(c));
            workers.insert(workers.end(), r.workers.begin(), r.workers.end());
          }
          out.results.push_back(std::move(o));
        }
        publish(self, std::move(changes), std::move(workers));
        return out;
      },
      [=](restore_atom, snapshot_blob& blob) -> std::uint64_t {
        auto& st = self->state;
        const std::set<std::uint64_t> was_draining = st.table.draining_workers();
        // Keep the old table until the new one is in place: jobs it has and the
        // snapshot lacks (evicted meanwhile) must be announced as evicted, or
        // subscribers (the dispatcher) would keep them for ever.
        jobs::job_table before = std::move(st.table);
        st.table = jobs::job_table();
        try {
          st.table.restore(blob.snap.data.view());
        } catch (...) {
          st.table = std::move(before);
          throw;
        }
        st.applied = blob.snap.meta.index;
        st.applied_term = blob.snap.meta.term;
        // What was in progress went with the old table.
        st.compaction = 0;
        st.backups.clear();
        TLOG(info, "job_table") << "restored snapshot at index " << st.applied << " ("
                                << st.table.size() << " jobs)";
        // Subscribers resynchronise from the full state, as if every job changed.
        // With none yet (a node's start), that would copy every job for nobody.
        if (st.listeners.empty()) return st.applied;
        std::vector<jobs::job_change> all;
        for (auto s : {jobs::job_status::pending, jobs::job_status::assigned, jobs::job_status::running,
                       jobs::job_status::completed, jobs::job_status::failed, jobs::job_status::cancelled})
          for (const auto* j : before.with_status(s))
            if (!st.table.find(j->id))
              all.push_back(jobs::job_change{st.applied, jobs::change_kind::evicted, j->status, *j});
        for (auto s : {jobs::job_status::pending, jobs::job_status::assigned, jobs::job_status::running,
                       jobs::job_status::completed, jobs::job_status::failed, jobs::job_status::cancelled})
          for (const auto* j : st.table.with_status(s))
            all.push_back(jobs::job_change{st.applied, jobs::change_kind::updated, j->status, *j});
        // Likewise every worker drained before or after, with its state now.
        std::set<std::uint64_t> touched = was_draining;
        touched.insert(st.table.draining_workers().begin(), st.table.draining_workers().end());
        std::vector<jobs::worker_change> workers;
        for (std::uint64_t w : touched)
          workers.push_back(jobs::worker_change{st.applied, w, st.table.is_draining(w)});
        publish(self, std::move(all), std::move(workers));
        return st.applied;
      },
      // A piece per request, each queued behind the entries that arrived
      // meanwhile: at a million jobs the whole encode takes most of a second,
      // and every apply, so every client's reply, waited for it (issue 12).
      // The bytes are the table's at this index all the same
      // (jobs::job_table::begin_snapshot), and each piece goes to the file
      // before the next is encoded, so the whole snapshot (~230 MB) is never
      // in memory. A piece ends at config::snapshot_piece_jobs jobs or
      // config::snapshot_piece_bytes, whichever comes first.
      [=](compact_atom) -> snapshot_piece {
        auto& st = self->state;
        if (st.compaction != 0) st.table.cancel_snapshot(st.compaction);  // raft_node gave it up
        st.compaction = st.table.begin_snapshot();
        st.snapshot_index = st.applied;
        snapshot_piece p = next_snapshot_piece(st);
        p.first = true;
        return p;
      },
      [=](write_atom) -> snapshot_piece { return next_snapshot_piece(self->state); },
      [=](cancel_atom, compact_atom) {
        auto& st = self->state;
        if (st.compaction != 0) st.table.cancel_snapshot(st.compaction);
        st.compaction = 0;
      },
      // A backup, a piece per request as a compaction (and beside one): at a
      // million jobs the one-shot encode held every apply and query for
      // most of a second. The first request fixes the image; the asker is
      // its taker, whose end drops it (down handler).
      [=](backup_atom) -> caf::result<backup_piece> {
        auto& st = self->state;
        auto taker = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (!taker) return make_error(errc::internal, "a backup needs an actor to take its pieces");
        const auto id = st.table.begin_snapshot();
        st.backups.emplace(id, job_table_state::backup{st.applied, st.applied_term, st.table.size(), taker});
        self->monitor(taker);
        return next_backup_piece(st, id);
      },
      [=](backup_atom, std::uint64_t id) -> caf::result<backup_piece> { return next_backup_piece(self->state, id); },
      [=](get_atom, const std::string& id) -> job_lookup {
        job_lookup r;
        if (const auto* j = self->state.table.find(id)) {
          r.found = true;
          r.job = *j;
        }
        return r;
      },
      [=](list_atom, const list_request& req) -> list_reply {
        list_reply r;
        try {
          r.result = self->state.table.list(req.query);
        } catch (const std::invalid_argument& e) {
          r.error = e.what();
        }
        return r;
      },
      [=](subscribe_atom, change_listener l) -> job_snapshot_view {
        self->monitor(l);
        self->state.listeners.push_back(l);
        job_snapshot_view v;
        v.applied_index = self->state.applied;
        auto& t = self->state.table;
        v.draining = t.draining_workers();
        for (auto s : {jobs::job_status::pending, jobs::job_status::assigned, jobs::job_status::running,
                       jobs::job_status::completed, jobs::job_status::failed, jobs::job_status::cancelled})
          for (const auto* j : t.with_status(s)) v.jobs.push_back(*j);
        std::sort(v.jobs.begin(), v.jobs.end(), [](const jobs::job& a, const jobs::job& b) {
          return a.created_at_ns != b.created_at_ns ? a.created_at_ns < b.created_at_ns : a.id < b.id;
        });
        return v;
      },
      [=](subscribe_atom, change_listener l, const listener_scope& scope) -> listener_view {
        self->monitor(l);
        self->state.listeners.push_back(l);
        return scoped_view(self->state, scope);
      },
      [=](unsub_atom, change_listener l) {
        auto& ls = self->state.listeners;
        ls.erase(std::remove(ls.begin(), ls.end(), l), ls.end());
        self->demonitor(l.address());
      },
      [=](stats_atom) -> table_stats {
        auto& t = self->state.table;
        table_stats s;
        s.applied_index = self->state.applied;
        s.total = t.size();
        s.active = t.active_count();
        for (auto st : {jobs::job_status::pending, jobs::job_status::assigned, jobs::job_status::running,
                        jobs::job_status::completed, jobs::job_status::failed, jobs::job_status::cancelled})
          s.by_status.emplace_back(jobs::to_string(st), t.count(st));
        s.draining.assign(t.draining_workers().begin(), t.draining_workers().end());
        return s;
      },
      [=](oldest_atom) -> oldest_finished { return oldest_finished{self->state.table.oldest_completion()}; },
      [=](held_atom, id_list& asked) -> id_list {
        id_list held;
        for (auto& id : asked.ids)
          if (self->state.table.find(id)) held.ids.push_back(std::move(id));
        return held;
      },
      [=](workers_atom, std::uint64_t worker) -> worker_load {
        worker_load w;
        w.worker_id = worker;
        w.draining = self->state.table.is_draining(worker);
        w.active = self->state.table.on_worker(worker).size();
        w.applied_index = self->state.applied;
        return w;
      },
  };
}

job_table_actor::behavior_type job_table_from(job_table_actor::stateful_pointer<job_table_state> self,
                                              restored_table from) {
  auto& st = self->state;
  st.table = std::move(*from.table);
  st.applied = from.applied;
  st.applied_term = from.applied_term;
  return job_table(self);
}

}  // namespace troupe
