// Docker's multiplexed stdout/stderr stream (containers without a TTY, as
// returned by GET /containers/{id}/logs and attach): a sequence of frames, each
// an 8-byte header {stream id (0 stdin, 1 stdout, 2 stderr), 0, 0, 0,
// big-endian u32 payload length} followed by the payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace troupe::exec {

enum class docker_stream_id : std::uint8_t { stdin_ = 0, stdout_ = 1, stderr_ = 2 };

// Incremental demultiplexer: feed() arbitrary chunks (frames may be split
// anywhere, including inside a header); payload bytes are handed to the sink
// as soon as they arrive, so a large log never has to be held in memory.
class docker_stream_demuxer {
 public:
  using sink = std::function<void(docker_stream_id, std::string_view)>;
  explicit docker_stream_demuxer(sink s) : sink_(std::move(s)) {}

  // Returns false (and ignores the rest) on a header that is not a valid frame
  // header; error() then says why.
  bool feed(std::string_view chunk);
  // True when the input ended inside a frame (header or payload incomplete).
  bool mid_frame() const { return header_fill_ != 0 || payload_left_ != 0; }
  const std::string& error() const { return error_; }

 private:
  sink sink_;
  std::array<unsigned char, 8> header_{};
  std::size_t header_fill_ = 0;
  std::uint32_t payload_left_ = 0;
  docker_stream_id current_ = docker_stream_id::stdout_;
  std::string error_;
};

// (stdout, stderr) of a whole multiplexed buffer, each stream in its own order.
// The payload bytes of a final partial frame are included; a partial header is
// dropped. Throws std::runtime_error on a malformed header.
std::pair<std::string, std::string> demux_docker_stream(std::string_view raw);

}  // namespace troupe::exec
