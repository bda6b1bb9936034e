// The cluster's configuration (Ongaro's thesis, ch. 4): which servers are
// voters, which are non-voting learners catching up, and where each one is
// reached. The core reads only ids and the voter flag; the addresses ride
// along so that every server learns how to reach a server added later.
// A configuration entry's data and a snapshot's metadata hold one encoded.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/raft/ids.hpp"

namespace troupe::raft {

struct member {
  node_id id = no_node;
  bool voter = true;
  std::string address;       // peer (Raft) address, host:port; may be empty for a seed member
  std::string http_address;  // dashboard/REST address; may be empty
  std::string wire_address;  // raft wire address (transport/wire_format.hpp); may be empty

  friend bool operator==(const member& a, const member& b) {
    return a.id == b.id && a.voter == b.voter && a.address == b.address && a.http_address == b.http_address &&
           a.wire_address == b.wire_address;
  }
};

class membership {
 public:
  membership() = default;
  // Voters with no addresses (the seed list of a first start, or a snapshot
  // written before configurations carried addresses).
  static membership of_voters(const std::vector<node_id>& ids);

  const std::vector<member>& members() const { return members_; }  // sorted by id
  bool empty() const { return members_.empty(); }
  const member* find(node_id id) const;
  bool contains(node_id id) const { return find(id) != nullptr; }
  bool is_voter(node_id id) const;
  std::vector<node_id> voters() const;
  std::vector<node_id> learners() const;
  std::size_t voter_count() const;

  // Inserts or replaces the member with m.id.
  void put(member m);
  void remove(node_id id);

  friend bool operator==(const membership& a, const membership& b) { return a.members_ == b.members_; }
  friend bool operator!=(const membership& a, const membership& b) { return !(a == b); }

 private:
  std::vector<member> members_;
};

// "" when `next` may follow `current` as one configuration change (thesis
// 4.1: the voter sets differ by at most one server, so any majority of the
// old and any majority of the new overlap), otherwise why not. Learners may
// come and go freely; at least one voter must remain.
std::string single_change_error(const membership& current, const membership& next);

// Encoding: "TRMB" | version:u8 | count:u32 | { id:u64 | voter:u8 |
// address_len:u32 | address | http_len:u32 | http [| wire_len:u32 | wire] }*,
// little-endian. Version 2 carries the wire addresses; a configuration
// without any is written as version 1, which builds before them read (so a
// cluster writes version 2 only once a member with a wire address is added,
// which waits for every node to read it: protocol/feature_level.hpp).
std::string encode(const membership& m);
// nullopt with *why set when the bytes are not a valid encoding (ids must be
// non-zero and strictly increasing).
std::optional<membership> decode_membership(std::string_view bytes, std::string* why = nullptr);

}  // namespace troupe::raft
