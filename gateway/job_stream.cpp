#include "gateway/job_stream.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "gateway/views.hpp"

namespace troupe {
namespace {

// A listener actor subscribed (through the node service) to the job table
// feeds a queue that the reactor drains one write at a time. The queue lives
// in a shared object so the listener never touches a reactor that gRPC has
// already finished with.
class job_stream;

std::atomic<std::uint32_t> open_streams{0};

struct stream_queue {
  std::mutex mu;
  std::deque<scheduler::JobInfo> queue;
  std::size_t queued_bytes = 0;  // of the messages in `queue`
  // Allowed bytes: the snapshot a subscriber starts with (the table's size,
  // bounded by admission and retention) plus job_stream_backlog_bytes of
  // changes. Set when the snapshot arrives; before that, changes alone.
  std::size_t budget = job_stream_backlog_bytes;
  bool snapshot_seen = false;
  bool writing = false;
  bool closed = false;
  job_stream* reactor = nullptr;  // valid while !closed

  void push(std::vector<scheduler::JobInfo> infos, bool snapshot);
};

// Ends a call at once: one stream too many.
class refused_stream final : public grpc::ServerWriteReactor<scheduler::JobInfo> {
 public:
  explicit refused_stream(std::uint32_t limit) {
    Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many StreamJobs subscribers (limit " + std::to_string(limit) + "); retry later"));
  }
  void OnDone() override { delete this; }
};

class job_stream final : public grpc::ServerWriteReactor<scheduler::JobInfo> {
 public:
  job_stream(caf::actor_system& sys, node_service_actor service, scheduler::JobStatus filter)
      : q_(std::make_shared<stream_queue>()), service_(service) {
    q_->reactor = this;
    auto q = q_;
    auto keep = [filter](std::vector<scheduler::JobInfo>& out, const jobs::job& j) {
      if (filter != scheduler::JOB_STATUS_UNSPECIFIED && static_cast<int>(j.status) != filter) return;
      views::to_job_info(j, &out.emplace_back());
    };
    listener_ = sys.spawn([q, service, keep](change_listener::pointer self) -> change_listener::behavior_type {
      self->request(service, caf::infinite, subscribe_atom::value, change_listener{self})
          .then([q, keep](job_snapshot_view& v) {
            std::vector<scheduler::JobInfo> out;
            for (const auto& j : v.jobs) keep(out, j);
            q->push(std::move(out), true);
          });
      return {
          [q, keep](const job_changes& jc) {
            std::vector<scheduler::JobInfo> out;
            for (const auto& c : jc.changes)
              if (c.kind != jobs::change_kind::evicted) keep(out, c.after);
            q->push(std::move(out), false);
          },
      };
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> g(q_->mu);
    if (!q_->queue.empty()) {
      q_->queued_bytes -= std::min(q_->queued_bytes, q_->queue.front().ByteSizeLong());
      q_->queue.pop_front();
    }
    if (!ok) {  // the client went away
      if (!q_->closed) {
        q_->closed = true;
        Finish(grpc::Status::CANCELLED);
      }
      return;
    }
    if (q_->closed) return;
    if (!q_->queue.empty()) {
      StartWrite(&q_->queue.front());
    } else {
      q_->writing = false;
    }
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> g(q_->mu);
    if (q_->closed) return;
    q_->closed = true;
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> g(q_->mu);
      q_->closed = true;
      q_->reactor = nullptr;
      std::deque<scheduler::JobInfo>().swap(q_->queue);
      q_->queued_bytes = 0;
    }
    caf::anon_send(service_, unsub_atom::value, listener_);
    caf::anon_send_exit(listener_, caf::exit_reason::user_shutdown);
    delete this;
    // The slot is free only now that gRPC is done with the call.
    if (open_streams.fetch_sub(1) == 1) {
#if defined(__GLIBC__)
      // The last subscriber left: hand the freed backlogs back to the OS
      // rather than keeping them in malloc's arenas (memory returns after
      // clients leave).
      malloc_trim(0);
#endif
    }
  }

  void start_write(const scheduler::JobInfo* info) { StartWrite(info); }
  void finish(grpc::Status s) { Finish(std::move(s)); }

 private:
  std::shared_ptr<stream_queue> q_;
  node_service_actor service_;
  change_listener listener_;
};

void stream_queue::push(std::vector<scheduler::JobInfo> infos, bool snapshot) {
  std::lock_guard<std::mutex> g(mu);
  if (closed || !reactor) return;
  std::size_t bytes = 0;
  for (const auto& i : infos) bytes += i.ByteSizeLong();
  if (snapshot && !snapshot_seen) {
    snapshot_seen = true;
    budget = bytes + job_stream_backlog_bytes;
  }
  if (queued_bytes + bytes > budget) {
    // Too far behind: end the stream rather than hold an ever-growing copy
    // of the change feed. Only the message gRPC is writing (if any) stays.
    closed = true;
    while (queue.size() > (writing ? 1u : 0u)) queue.pop_back();
    queued_bytes = queue.empty() ? 0 : queue.front().ByteSizeLong();
    reactor->finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "subscriber too slow: more than " + std::to_string(budget) +
                                     " bytes of changes unsent; reconnect"));
    return;
  }
  queued_bytes += bytes;
  for (auto& i : infos) queue.push_back(std::move(i));
  if (!writing && !queue.empty()) {
    writing = true;
    reactor->start_write(&queue.front());
  }
}

}  // namespace

grpc::ServerWriteReactor<scheduler::JobInfo>* make_job_stream(caf::actor_system& sys, node_service_actor service,
                                                              scheduler::JobStatus filter,
                                                              const config::limits_options& limits) {
  // Counted from here to OnDone: a stream holds its slot while gRPC holds it.
  if (open_streams.fetch_add(1) >= limits.stream_subscribers) {
    open_streams.fetch_sub(1);
    return new refused_stream(limits.stream_subscribers);
  }
  return new job_stream(sys, std::move(service), filter);
}

std::uint32_t open_job_streams() { return open_streams.load(); }

}  // namespace troupe
