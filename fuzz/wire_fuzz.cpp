// The raft wire as a listener reads it (transport/peer_listener.cpp,
// read_frames): bytes from a connection that said hello, fed to the frame
// reader in pieces of any size, each frame parsed as a RaftBatch, then the
// admission checks (check_raft_senders, check_raft_batch). Contract:
// - the same bytes give the same frames, and the same too_big, whether fed
//   at once or in pieces;
// - each frame is exactly the bytes its length announced, at most the limit,
//   and the frames tile the input from its start;
// - too_big exactly when an announced length exceeds the limit, need_more
//   only when the rest holds no whole frame;
// - the checks never throw, and a batch they accept converts to core
//   messages (codec::from_proto) without throwing.
//
// Input: byte 0 picks the piece size (bits 0..5, 1..64) and the frame limit
// (bit 6: 64 bytes, so short inputs reach too_big; else 64 KiB); the rest is
// what the dialer sent after its hello.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "protocol/raft_codec.hpp"
#include "transport/peer_validation.hpp"
#include "transport/wire_format.hpp"

namespace troupe::fuzz {
namespace {

constexpr const char* target = "wire_fuzz";

struct outcome {
  std::vector<std::string> frames;
  bool too_big = false;
  std::uint64_t announced = 0;  // with too_big
  bool operator==(const outcome& o) const {
    return frames == o.frames && too_big == o.too_big && announced == o.announced;
  }
};

outcome read_all(const std::string& bytes, std::size_t piece, std::uint64_t limit) {
  transport::wire::frame_reader reader(limit);
  outcome out;
  for (std::size_t at = 0; at < bytes.size() && !out.too_big; at += piece) {
    reader.feed(bytes.data() + at, std::min(piece, bytes.size() - at));
    std::string_view frame;
    for (;;) {
      const auto r = reader.next(frame);
      if (r == transport::wire::frame_reader::result::need_more) break;
      if (r == transport::wire::frame_reader::result::too_big) {
        out.too_big = true;
        out.announced = reader.announced();
        break;
      }
      out.frames.emplace_back(frame);
    }
  }
  return out;
}

std::uint64_t length_at(const std::string& bytes, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
  return (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) | (std::uint64_t{p[2]} << 8) | p[3];
}

// The frames against an independent reading of the same bytes.
void check_tiling(const std::string& bytes, const outcome& o, std::uint64_t limit) {
  std::size_t at = 0;
  for (const std::string& f : o.frames) {
    require(at + transport::wire::length_bytes <= bytes.size(), target, "a frame beyond the input");
    const std::uint64_t len = length_at(bytes, at);
    require(len == f.size(), target, "a frame whose size is not the length announced");
    require(len <= limit, target, "a frame over the limit");
    require(bytes.compare(at + transport::wire::length_bytes, len, f) == 0, target, "a frame of other bytes");
    at += transport::wire::length_bytes + len;
  }
  const std::size_t rest = bytes.size() - at;
  if (o.too_big) {
    require(rest >= transport::wire::length_bytes, target, "too_big without a whole length");
    require(length_at(bytes, at) == o.announced && o.announced > limit, target, "too_big for a length within the limit");
  } else if (rest >= transport::wire::length_bytes) {
    const std::uint64_t len = length_at(bytes, at);
    require(len <= limit, target, "a length over the limit not refused");
    require(rest - transport::wire::length_bytes < len, target, "a whole frame left unread");
  }
}

transport::peer_rules rules() {
  config::node_config cfg;
  cfg.id = 1;
  cfg.members = {{1, "127.0.0.1:1", "", ""}, {2, "127.0.0.1:2", "", ""}, {3, "127.0.0.1:3", "", ""}};
  return transport::peer_rules::from(cfg);
}

void check_admission(const std::string& frame, const transport::peer_rules& r) {
  raftpb::RaftBatch batch;
  if (!batch.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return;  // the listener closes
  try {
    if (!transport::check_raft_senders(batch, r).empty()) return;
    if (!transport::check_raft_batch(batch, codec::raft_rpc::append_entries, r).empty()) return;
    for (const auto& m : batch.messages()) (void)codec::from_proto(m);
  } catch (const std::exception& e) {
    contract_broken(target, std::string("admission threw: ") + e.what());
  }
}

}  // namespace

void wire_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t piece = (data[0] & 63) + 1;
  const std::uint64_t limit = (data[0] & 64) ? 64 : 64 * 1024;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const outcome whole = read_all(bytes, bytes.size() + 1, limit);
  const outcome split = read_all(bytes, piece, limit);
  require(whole == split, target, "pieces of " + std::to_string(piece) + " bytes read otherwise than the whole");
  check_tiling(bytes, whole, limit);
  static const transport::peer_rules r = rules();
  for (const std::string& f : whole.frames) check_admission(f, r);
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::wire_one)
