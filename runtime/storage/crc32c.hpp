// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
// record and state file. Uses the SSE4.2 crc32 instruction when the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace troupe::storage {

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a + b). Start from 0.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t crc32c(const void* data, std::size_t n) { return crc32c_extend(0, data, n); }
inline std::uint32_t crc32c(std::string_view s) { return crc32c_extend(0, s.data(), s.size()); }

// The CRC of a + b from crc32c(a), crc32c(b) and b's length, without b's
// bytes: for a file whose header (checksummed first) is known only once its
// data was written, as a snapshot streamed to disk. O(log len_b).
std::uint32_t crc32c_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b);

// The two implementations, exposed so tests can check they agree.
std::uint32_t crc32c_extend_table(std::uint32_t crc, const void* data, std::size_t n);
// Only valid to call when crc32c_hardware_available().
std::uint32_t crc32c_extend_sse42(std::uint32_t crc, const void* data, std::size_t n);
bool crc32c_hardware_available();

}  // namespace troupe::storage
