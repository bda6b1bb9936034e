// The nine fuzz harnesses. Each runs one input and aborts (fuzz_check.hpp) if
// the code under test breaks its documented contract; an exception of an
// undocumented type escapes, which is a failure too.
#pragma once

#include <cstddef>
#include <cstdint>

namespace troupe::fuzz {

// byte 0: bit 0 = is_last_segment, bits 1..7 = first_index - 1; then segment bytes.
void record_one(const std::uint8_t* data, std::size_t size);
// The whole input is snapshot bytes.
void snapshot_one(const std::uint8_t* data, std::size_t size);
// The whole input is TOML text.
void config_one(const std::uint8_t* data, std::size_t size);
// byte 0 picks the request (rest_fuzz.cpp); then the body or query string.
void rest_one(const std::uint8_t* data, std::size_t size);
// byte 0 picks the piece size of the split feed (http_fuzz.cpp); then the bytes of a connection.
void http_one(const std::uint8_t* data, std::size_t size);
// byte 0 picks the cluster size; then one byte per random choice of the simulation.
void raft_one(const std::uint8_t* data, std::size_t size);
// byte 0 picks the piece size and the frame limit (wire_fuzz.cpp); then the raft wire's bytes after the hello.
void wire_one(const std::uint8_t* data, std::size_t size);
// byte 0 picks what the rest is (state_fuzz.cpp): a configuration's encoding, a hard state file, a snapshot
// file or a backup file.
void state_one(const std::uint8_t* data, std::size_t size);
// One byte per choice (apply_fuzz.cpp): a log of job table commands, with snapshots, listings and
// checkpoints between them.
void apply_one(const std::uint8_t* data, std::size_t size);

}  // namespace troupe::fuzz
