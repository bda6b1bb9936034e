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

// The two implementations, exposed so tests can check they agree.
std::uint32_t crc32c_extend_table(std::uint32_t crc, const void* data, std::size_t n);
// Only valid to call when crc32c_hardware_available().
std::uint32_t crc32c_extend_sse42(std::uint32_t crc, const void* data, std::size_t n);
bool crc32c_hardware_available();

}  // namespace troupe::storage
