// The raft wire: how the AppendEntries family (appends, heartbeats and their
// responses) travels between troupe nodes without gRPC. On the PVM host the
// gRPC stream's callback threads, hand-offs and HTTP/2 framing cost the three
// nodes about 1.2 ms of CPU per job at 1 in flight (docs/BENCHMARKS.md,
// thirty-ninth round); a plain TCP connection read by one thread costs a
// fraction of it.
//
// A node with [listen] wire accepts the wire there
// (transport/peer_listener.hpp); a node whose [[members]] entry for a peer
// names the peer's wire dials it (transport/wire_dialer.hpp). The dialer
// sends hello, the listener answers hello, and from then on the dialer
// sends frames and the listener sends nothing: a 4-byte big-endian length,
// then that many bytes of one RaftBatch. Pure: no I/O here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "raft.pb.h"

namespace troupe::transport::wire {

// "TRPW" and the version. A listener that does not speak the dialer's
// version answers its own hello and closes; the dialer then keeps the gRPC
// stream.
inline constexpr std::string_view hello{"TRPW\x01", 5};
inline constexpr std::size_t length_bytes = 4;

// Appends `batch` as one frame to `out`.
void append_frame(std::string& out, const raftpb::RaftBatch& batch);

// Cuts frames out of a byte stream fed in arbitrary pieces.
class frame_reader {
 public:
  explicit frame_reader(std::uint64_t max_frame_bytes) : max_(max_frame_bytes) {}

  void feed(const char* data, std::size_t n) { buf_.append(data, n); }

  enum class result { frame, need_more, too_big };
  // frame: `out` views the next frame's bytes, valid until the next feed or
  // next call. too_big: the announced length exceeds the limit (the stream
  // cannot be trusted any further).
  result next(std::string_view& out);

  std::uint64_t announced() const { return announced_; }  // the last length read

 private:
  std::uint64_t max_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the unread part of buf_
  std::uint64_t announced_ = 0;
};

}  // namespace troupe::transport::wire
