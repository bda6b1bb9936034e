// Plain data types shared by the Raft core (runtime/raft), the log store
// (runtime/storage) and the transport. No I/O, no clocks, no CAF, no gRPC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/raft/ids.hpp"
#include "runtime/raft/membership.hpp"

namespace troupe::raft {

enum class entry_type : std::uint8_t {
  normal = 0,  // data is an application command (serialized scheduler.Command)
  noop = 1,    // appended by a new leader to commit entries of older terms
  config = 2,  // data is an encoded membership; takes effect once appended (thesis 4.1)
};
constexpr entry_type last_entry_type = entry_type::config;  // for validating decoded entries

struct entry {
  term_t term = 0;
  index_t index = 0;
  entry_type type = entry_type::normal;
  std::string data;

  friend bool operator==(const entry& a, const entry& b) {
    return a.term == b.term && a.index == b.index && a.type == b.type && a.data == b.data;
  }
};

// Persisted before any message that depends on it is sent (Figure 2: "updated
// on stable storage before responding to RPCs").
struct hard_state {
  term_t term = 0;
  node_id vote = no_node;
  index_t commit = 0;

  friend bool operator==(const hard_state& a, const hard_state& b) {
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
  }
  friend bool operator!=(const hard_state& a, const hard_state& b) { return !(a == b); }
};

struct snapshot_meta {
  index_t index = 0;  // last log index the snapshot covers
  term_t term = 0;    // term of that entry
  membership conf;  // the configuration as of `index` (empty: unknown, use the seed list)
};

// The serialized application state: immutable once made, so the core (which
// sends it to lagging followers), the ready that hands it over, the log store
// that writes it and the table that restores from it share one buffer rather
// than copy it: at a million jobs it is ~230 MB, and each copy held the Raft
// loop or the log for a tenth of a second and added to the node's peak RSS.
// The bytes are a string on the heap (encoded, received, or read at start)
// or anything else an owner keeps alive: once the snapshot is in its file,
// the node keeps a read-only mapping of the file instead (storage), which
// costs no memory until a lagging follower needs the snapshot.
class snapshot_bytes {
 public:
  snapshot_bytes() = default;
  snapshot_bytes(std::string bytes)  // NOLINT(google-explicit-constructor): a snapshot is made from its bytes
      : snapshot_bytes(std::make_shared<const std::string>(std::move(bytes))) {}
  snapshot_bytes(const char* bytes) : snapshot_bytes(std::string(bytes)) {}  // NOLINT: as above
  // `bytes` stays valid as long as `owner` lives.
  snapshot_bytes(std::string_view bytes, std::shared_ptr<const void> owner)
      : view_(bytes), owner_(std::move(owner)) {}

  std::string_view view() const { return view_; }
  std::size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }

  friend bool operator==(const snapshot_bytes& a, std::string_view b) { return a.view() == b; }

 private:
  explicit snapshot_bytes(std::shared_ptr<const std::string> s) : view_(*s), owner_(std::move(s)) {}
  std::string_view view_;
  std::shared_ptr<const void> owner_;
};

struct snapshot {
  snapshot_meta meta;
  snapshot_bytes data;
};

}  // namespace troupe::raft
