#include "runtime/jobs/uuid.hpp"

#include <cctype>
#include <cstddef>

namespace troupe::jobs {

namespace {

constexpr std::size_t uuid_length = 36;

bool is_hyphen_offset(std::size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

bool is_valid_uuid(std::string_view s) {
  if (s.size() != uuid_length) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_hyphen_offset(i)) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

std::string make_uuid_v4(std::uint64_t hi, std::uint64_t lo) {
  // hi holds bytes 0..7: its bits 12..15 are the version nibble (byte 6's high half).
  hi = (hi & ~std::uint64_t{0xF000}) | std::uint64_t{0x4000};
  // lo holds bytes 8..15: its top two bits are the variant.
  lo = (lo & ~(std::uint64_t{0xC} << 60)) | (std::uint64_t{0x8} << 60);

  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(uuid_length);
  for (int nibble = 0; nibble < 32; ++nibble) {
    if (nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20) out.push_back('-');
    std::uint64_t word = nibble < 16 ? hi : lo;
    int shift = 60 - 4 * (nibble % 16);
    out.push_back(digits[(word >> shift) & 0xF]);
  }
  return out;
}

}  // namespace troupe::jobs
