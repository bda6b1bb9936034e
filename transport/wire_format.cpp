#include "transport/wire_format.hpp"

namespace troupe::transport::wire {

void append_frame(std::string& out, const raftpb::RaftBatch& batch) {
  const auto size = static_cast<std::uint32_t>(batch.ByteSizeLong());
  const char len[length_bytes] = {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                                  static_cast<char>(size >> 8), static_cast<char>(size)};
  out.append(len, length_bytes);
  batch.AppendToString(&out);
}

frame_reader::result frame_reader::next(std::string_view& out) {
  // The bytes a previous frame left behind go once the buffer is mostly
  // consumed, so a long stream of frames does not grow it.
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  const std::size_t avail = buf_.size() - pos_;
  if (avail < length_bytes) return result::need_more;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  announced_ = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) | (std::uint64_t{p[2]} << 8) | p[3];
  if (announced_ > max_) return result::too_big;
  if (avail - length_bytes < announced_) return result::need_more;
  out = std::string_view(buf_.data() + pos_ + length_bytes, announced_);
  pos_ += length_bytes + announced_;
  return result::frame;
}

}  // namespace troupe::transport::wire
