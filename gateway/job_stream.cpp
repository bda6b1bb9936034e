#include "gateway/job_stream.hpp"

#include <deque>
#include <mutex>

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

struct stream_queue {
  static constexpr std::size_t max_backlog = 100000;
  std::mutex mu;
  std::deque<scheduler::JobInfo> queue;
  bool writing = false;
  bool closed = false;
  job_stream* reactor = nullptr;  // valid while !closed

  void push(std::vector<scheduler::JobInfo> infos);
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
            q->push(std::move(out));
          });
      return {
          [q, keep](const job_changes& jc) {
            std::vector<scheduler::JobInfo> out;
            for (const auto& c : jc.changes)
              if (c.kind != jobs::change_kind::evicted) keep(out, c.after);
            q->push(std::move(out));
          },
      };
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> g(q_->mu);
    q_->queue.pop_front();
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
    }
    caf::anon_send(service_, unsub_atom::value, listener_);
    caf::anon_send_exit(listener_, caf::exit_reason::user_shutdown);
    delete this;
  }

  void start_write(const scheduler::JobInfo* info) { StartWrite(info); }
  void finish(grpc::Status s) { Finish(std::move(s)); }

 private:
  std::shared_ptr<stream_queue> q_;
  node_service_actor service_;
  change_listener listener_;
};

void stream_queue::push(std::vector<scheduler::JobInfo> infos) {
  std::lock_guard<std::mutex> g(mu);
  if (closed || !reactor) return;
  for (auto& i : infos) queue.push_back(std::move(i));
  if (queue.size() > max_backlog) {
    closed = true;
    reactor->finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "stream reader is too slow; reconnect"));
    return;
  }
  if (!writing && !queue.empty()) {
    writing = true;
    reactor->start_write(&queue.front());
  }
}

}  // namespace

grpc::ServerWriteReactor<scheduler::JobInfo>* make_job_stream(caf::actor_system& sys, node_service_actor service,
                                                              scheduler::JobStatus filter) {
  return new job_stream(sys, std::move(service), filter);
}

}  // namespace troupe
