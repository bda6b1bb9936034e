// The deterministic entry content shared by the crash writer and the crash
// test: every entry's type, size and bytes follow from (index, term), so the
// test can check any entry it reads back without knowing the write history.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/raft/types.hpp"

namespace troupe::storage::crash_workload {

inline std::size_t payload_size(raft::index_t index, raft::term_t term) { return (index * 31 + term * 7) % 300; }

inline raft::entry entry_for(raft::index_t index, raft::term_t term) {
  std::string data(payload_size(index, term), '\0');
  std::uint64_t x = (index << 20) ^ term ^ 0x2545F4914F6CDD1Dull;
  for (auto& c : data) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(x >> 56);
  }
  return raft::entry{term, index, index % 7 == 0 ? raft::entry_type::noop : raft::entry_type::normal,
                     std::move(data)};
}

}  // namespace troupe::storage::crash_workload
