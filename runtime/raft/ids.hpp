// The integer identities of Raft: servers, terms, log positions, and the
// bounds that keep their arithmetic from wrapping.
#pragma once

#include <cstdint>

namespace troupe::raft {

using node_id = std::uint64_t;  // 0 means "none"
using term_t = std::uint64_t;
using index_t = std::uint64_t;  // log indexes start at 1; 0 means "none"

constexpr node_id no_node = 0;

// The highest term a cluster ever reaches (exclusive). Terms grow by one per
// election, so 2^62 is unreachable honestly; a term at or above it can only
// come from a forged or corrupt message. Keeping far below 2^64 means term+1
// never wraps to 0 (issue 11: a forged term 2^64-1 wrapped, and a later
// election erased committed entries). The transport refuses messages with
// such terms; the core refuses to campaign past it.
constexpr term_t max_term = term_t{1} << 62;
// Same bound for log indexes: index + count, commit arithmetic never wraps.
constexpr index_t max_index = index_t{1} << 62;

}  // namespace troupe::raft
