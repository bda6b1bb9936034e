#include "transport/raft_stream.hpp"

#include <vector>

#include "config/timeouts.hpp"
#include "runtime/common/log.hpp"

namespace troupe::transport {

void note_raft_call_end(std::uint64_t to, const grpc::Status& s) {
  if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
    if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED)
      TLOG(debug, "peer_transport") << "to node " << to << ": " << s.error_message();
    return;
  }
  // Said loudly, at most once per window (gRPC threads).
  static std::atomic<std::int64_t> last_ms{0};
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t before = last_ms.load();
  if (now - before < 10000 || !last_ms.compare_exchange_strong(before, now)) return;
  TLOG(warn, "peer_transport") << "node " << to << " refuses this node's Raft messages: " << s.error_message()
                               << ". If this node was removed (troupe member remove), it no longer belongs to the "
                                  "cluster: stop it";
}

void stream_count::add() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++live_;
}

void stream_count::remove() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--live_ == 0) idle_.notify_all();
}

std::uint64_t stream_count::add(std::function<void()> cancel) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++live_;
  calls_.emplace(++next_call_, std::move(cancel));
  return next_call_;
}

void stream_count::remove(std::uint64_t call) {
  std::lock_guard<std::mutex> lock(mutex_);
  calls_.erase(call);
  if (--live_ == 0) idle_.notify_all();
}

void stream_count::cancel_calls() {
  std::vector<std::function<void()>> cancels;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, cancel] : calls_) cancels.push_back(cancel);
  }
  // Outside the lock: a cancel may finish its call, and so remove it, at once.
  for (auto& cancel : cancels) cancel();
}

bool stream_count::wait_idle(std::chrono::milliseconds bound) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_for(lock, bound, [this] { return live_ == 0; });
}

raft_stream::raft_stream(std::shared_ptr<raftpb::RaftService::Stub> stub, std::uint64_t to,
                         std::shared_ptr<std::atomic<bool>> no_stream, std::shared_ptr<stream_count> count)
    : counted_(std::move(count)), stub_(std::move(stub)), to_(to), no_stream_(std::move(no_stream)) {}

std::shared_ptr<raft_stream> raft_stream::open(std::shared_ptr<raftpb::RaftService::Stub> stub, std::uint64_t to,
                                               std::shared_ptr<std::atomic<bool>> no_stream,
                                               std::shared_ptr<stream_count> count) {
  std::shared_ptr<raft_stream> s(new raft_stream(std::move(stub), to, std::move(no_stream), std::move(count)));
  s->keep_ = s;
  s->stub_->async()->Stream(&s->ctx_, s.get());
  s->StartRead(&s->ack_);
  // Writes start from outside reactions (send, on the transport's thread):
  // the hold keeps gRPC from finishing the reactor between two of them.
  s->AddHold();
  s->StartCall();
  return s;
}

bool raft_stream::end_locked() {
  if (ended_) return false;
  ended_ = true;
  return true;
}

bool raft_stream::send(raftpb::RaftBatch&& batch) {
  const raftpb::RaftBatch* start = nullptr;
  bool stuck = false, drop_hold = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (!queue_.empty() && now - write_started_ > config::raft_call_deadline) {
      // The peer has not taken a write for that long (stopped, or a link
      // that holds bytes): start afresh rather than queue behind it.
      stuck = true;
      drop_hold = end_locked();
    } else if (queue_.size() > max_queued || queued_bytes_ > max_queued_bytes) {
      return true;  // dropped: Raft retransmits
    } else {
      sizes_.push_back(batch.ByteSizeLong());
      queued_bytes_ += sizes_.back();
      queue_.push_back(std::move(batch));
      if (queue_.size() == 1) {
        write_started_ = now;
        start = &queue_.front();
      }
    }
  }
  // Not under mutex_: gRPC may run a reaction inline.
  if (stuck) {
    ctx_.TryCancel();
    if (drop_hold) RemoveHold();
    return false;
  }
  if (start) StartWrite(start);
  return true;
}

void raft_stream::OnWriteDone(bool ok) {
  const raftpb::RaftBatch* next = nullptr;
  bool drop_hold = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!ok) {
      queue_.clear();
      sizes_.clear();
      queued_bytes_ = 0;
      drop_hold = end_locked();
    } else if (!queue_.empty()) {
      queue_.pop_front();
      queued_bytes_ -= sizes_.front();
      sizes_.pop_front();
      if (!queue_.empty() && !ended_) {
        write_started_ = std::chrono::steady_clock::now();
        next = &queue_.front();
      }
    }
  }
  if (next) StartWrite(next);
  if (drop_hold) RemoveHold();
}

void raft_stream::OnReadDone(bool ok) {
  if (ok) {  // the receiver writes nothing; should one ever, read on
    StartRead(&ack_);
    return;
  }
  bool drop_hold = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    drop_hold = end_locked();
  }
  if (drop_hold) RemoveHold();
}

bool raft_stream::ended() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ended_;
}

void raft_stream::close() {
  bool drop_hold = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    drop_hold = end_locked();
  }
  ctx_.TryCancel();
  if (drop_hold) RemoveHold();
}

void raft_stream::OnDone(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    no_stream_->store(true);
    TLOG(info, "peer_transport") << "node " << to_
                                 << " has no RaftService.Stream (an older version): unary calls to it";
  } else {
    note_raft_call_end(to_, s);
  }
  // ended_ is already set: the hold goes only after end_locked().
  auto self = std::move(keep_);  // the last reference may go with this scope
}

}  // namespace troupe::transport
