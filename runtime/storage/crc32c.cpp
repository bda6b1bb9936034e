#include "runtime/storage/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace troupe::storage {

namespace {

constexpr std::uint32_t castagnoli_reflected = 0x82F63B78u;

// Slicing-by-4 tables: table[0] is the classic byte table; table[k][b] is the
// CRC of byte b followed by k zero bytes, letting us fold 4 bytes per step.
using crc_tables = std::array<std::array<std::uint32_t, 256>, 4>;

crc_tables make_tables() {
  crc_tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ castagnoli_reflected : c >> 1;
    t[0][b] = c;
  }
  for (std::uint32_t b = 0; b < 256; ++b)
    for (std::size_t k = 1; k < 4; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  return t;
}

const crc_tables& tables() {
  static const crc_tables t = make_tables();
  return t;
}

using crc_fn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t);

crc_fn choose_implementation() {
  return crc32c_hardware_available() ? &crc32c_extend_sse42 : &crc32c_extend_table;
}

// A 32x32 bit matrix over GF(2), column i the image of bit i.
using gf2_matrix = std::array<std::uint32_t, 32>;

// m times the vector v.
std::uint32_t gf2_times(const gf2_matrix& m, std::uint32_t v) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; v != 0; ++i, v >>= 1)
    if (v & 1u) sum ^= m[i];
  return sum;
}

gf2_matrix gf2_square(const gf2_matrix& m) {
  gf2_matrix sq{};
  for (std::size_t i = 0; i < 32; ++i) sq[i] = gf2_times(m, m[i]);
  return sq;
}

}  // namespace

// The CRC register is linear over GF(2): running a + b through it equals
// running a's CRC through len_b zero bytes, xor b's CRC (the pre- and
// post-inversions cancel). The zero bytes are applied as powers of the
// one-zero-bit operator, squared up to the bits of len_b.
std::uint32_t crc32c_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b) {
  if (len_b == 0) return crc_a;
  gf2_matrix op{};  // one zero bit
  op[0] = castagnoli_reflected;
  for (std::size_t i = 1; i < 32; ++i) op[i] = 1u << (i - 1);
  op = gf2_square(gf2_square(gf2_square(op)));  // one zero byte
  for (; len_b != 0; len_b >>= 1) {
    if (len_b & 1u) crc_a = gf2_times(op, crc_a);
    if (len_b > 1) op = gf2_square(op);
  }
  return crc_a ^ crc_b;
}

bool crc32c_hardware_available() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

std::uint32_t crc32c_extend_table(std::uint32_t crc, const void* data, std::size_t n) {
  const auto& t = tables();
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  while (n >= 4) {
    c ^= static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
    c = t[3][c & 0xffu] ^ t[2][(c >> 8) & 0xffu] ^ t[1][(c >> 16) & 0xffu] ^ t[0][c >> 24];
    p += 4;
    n -= 4;
  }
  while (n-- > 0) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xffu];
  return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_extend_sse42(std::uint32_t crc, const void* data,
                                                                    std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);  // unaligned-safe load; x86 is little-endian
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#else
std::uint32_t crc32c_extend_sse42(std::uint32_t crc, const void* data, std::size_t n) {
  return crc32c_extend_table(crc, data, n);
}
#endif

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) {
  static const crc_fn impl = choose_implementation();
  return impl(crc, data, n);
}

}  // namespace troupe::storage
