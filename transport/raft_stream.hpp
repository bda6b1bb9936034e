// The sending half of one long-lived RaftService.Stream to one peer: every
// append, append response, heartbeat and heartbeat response this node sends
// that peer goes down one HTTP/2 stream, one write per batch, in order. A
// unary call per batch (what older nodes do, and what votes, snapshots and
// TimeoutNow still use) costs a stream set-up, headers, trailers, an empty
// Ack and callback-thread wake-ups on both sides.
//
// The receiver writes nothing back, but a read stays pending so that the end
// of the stream (the peer restarted, or refused this node) is known at once,
// not by losing the next batch in a write to a dead stream: after a peer's
// restart that batch would often be a new leader's first append.
//
// Raft tolerates lost messages, so a stream never blocks its caller: batches
// queue (bounded) while one write is in flight; a full queue drops the batch
// (the core retransmits), and a write unfinished after raft_call_deadline
// means the peer is stopped or unreachable: the stream is cancelled and the
// caller opens a new one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "raft.grpc.pb.h"

namespace troupe::transport {

// The streams (and unary peer calls, transport/unary_call.hpp) still
// open on one peer_clients' channels. A stream's last
// reaction (OnDone) runs on a thread of gRPC 1.51's shared callback queue; if
// the stream held the process's last channel, releasing it there would tear
// that queue and its threads down from one of those very threads, which
// cannot join itself: the queue is released twice (SIGABRT, "ref_counted.h:183
// assertion failed: prior > 0", seen at node exit and in transport_tests).
// So whoever owns the channels waits for its streams before releasing them.
class stream_count {
 public:
  void add();
  void remove();
  // A unary call counts with how to cancel it: its owner, stopping, cancels
  // it rather than wait for its deadline (a report the leader can no longer
  // commit waits a whole commit deadline).
  std::uint64_t add(std::function<void()> cancel);
  void remove(std::uint64_t call);
  void cancel_calls();
  // Waits until no stream or call is left, at most `bound`; false if some remain.
  bool wait_idle(std::chrono::milliseconds bound);

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t live_ = 0;
  std::map<std::uint64_t, std::function<void()>> calls_;
  std::uint64_t next_call_ = 0;
};

class raft_stream final : public grpc::ClientBidiReactor<raftpb::RaftBatch, raftpb::Ack> {
 public:
  // Opens a stream on `stub`'s channel; gRPC owns the object, which deletes
  // itself when the stream is over. `no_stream` is set when the peer has no
  // Stream method (an older node): its caller then uses unary calls.
  // It counts in `count` until it is destroyed.
  static std::shared_ptr<raft_stream> open(std::shared_ptr<raftpb::RaftService::Stub> stub, std::uint64_t to,
                                           std::shared_ptr<std::atomic<bool>> no_stream,
                                           std::shared_ptr<stream_count> count);

  // Queues `batch` (any thread). False when the stream is over or stuck: the
  // batch was not taken; open a new stream.
  bool send(raftpb::RaftBatch&& batch);

  // Ends the stream (the peer left the configuration, its address changed,
  // or this node stops).
  void close();

  // Whether the stream is over (closed, cut, or refused): open a new one.
  bool ended();

  // At most this many batches, and bytes, wait behind the one being
  // written (a stopped peer's flow-control window fills and nothing moves).
  static constexpr std::size_t max_queued = 1024;
  static constexpr std::size_t max_queued_bytes = 64 << 20;

 private:
  raft_stream(std::shared_ptr<raftpb::RaftService::Stub> stub, std::uint64_t to,
              std::shared_ptr<std::atomic<bool>> no_stream, std::shared_ptr<stream_count> count);

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

  // Marks the stream over; true for the one caller that must then drop the
  // hold (outside mutex_: gRPC may run OnDone inline).
  bool end_locked();

  // First, so destroyed last: the stream stops counting only once it has
  // released the stub (and with it the channel) below.
  struct counted {
    std::shared_ptr<stream_count> count;
    explicit counted(std::shared_ptr<stream_count> c) : count(std::move(c)) { count->add(); }
    ~counted() { count->remove(); }
  } counted_;
  std::shared_ptr<raftpb::RaftService::Stub> stub_;
  const std::uint64_t to_;
  std::shared_ptr<std::atomic<bool>> no_stream_;
  grpc::ClientContext ctx_;
  raftpb::Ack ack_;
  std::shared_ptr<raft_stream> keep_;  // self, until OnDone

  std::mutex mutex_;
  std::deque<raftpb::RaftBatch> queue_;  // front: the batch being written
  std::deque<std::size_t> sizes_;        // the byte size of each queued batch
  std::size_t queued_bytes_ = 0;
  std::chrono::steady_clock::time_point write_started_{};
  bool ended_ = false;
};

// How a RaftService call or stream to `to` ended, said once: a peer that
// answers FAILED_PRECONDITION does not count this node as a member (see
// peer_services.cpp), which is how a removed node hears of its removal.
void note_raft_call_end(std::uint64_t to, const grpc::Status& s);

}  // namespace troupe::transport
