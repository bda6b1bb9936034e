#include "runtime/exec/docker_stream.hpp"

#include <algorithm>
#include <stdexcept>

namespace troupe::exec {

bool docker_stream_demuxer::feed(std::string_view chunk) {
  if (!error_.empty()) return false;
  while (!chunk.empty()) {
    if (payload_left_ == 0) {
      std::size_t take = std::min(header_.size() - header_fill_, chunk.size());
      std::copy_n(chunk.begin(), take, header_.begin() + header_fill_);
      header_fill_ += take;
      chunk.remove_prefix(take);
      if (header_fill_ < header_.size()) return true;
      header_fill_ = 0;
      unsigned id = header_[0];
      if (id > 2 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
        error_ = "malformed docker stream frame header (stream byte " + std::to_string(id) +
                 "); was the container created with a TTY?";
        return false;
      }
      current_ = static_cast<docker_stream_id>(id);
      payload_left_ = (std::uint32_t{header_[4]} << 24) | (std::uint32_t{header_[5]} << 16) |
                      (std::uint32_t{header_[6]} << 8) | std::uint32_t{header_[7]};
      continue;
    }
    std::size_t take = std::min<std::size_t>(payload_left_, chunk.size());
    sink_(current_, chunk.substr(0, take));
    payload_left_ -= static_cast<std::uint32_t>(take);
    chunk.remove_prefix(take);
  }
  return true;
}

std::pair<std::string, std::string> demux_docker_stream(std::string_view raw) {
  std::pair<std::string, std::string> out;
  docker_stream_demuxer d([&](docker_stream_id id, std::string_view data) {
    if (id == docker_stream_id::stderr_)
      out.second.append(data);
    else if (id == docker_stream_id::stdout_)
      out.first.append(data);
  });
  if (!d.feed(raw)) throw std::runtime_error(d.error());
  return out;
}

}  // namespace troupe::exec
