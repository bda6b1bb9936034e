// Job ids are RFC 4122 version-4 UUIDs. The state machine never makes up
// randomness: whoever proposes a submit draws the 128 bits and passes them in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::jobs {

// True for the canonical 8-4-4-4-12 form: 36 characters, hyphens at offsets
// 8, 13, 18 and 23, hex digits (either case, as RFC 4122 allows) elsewhere.
bool is_valid_uuid(std::string_view s);

// Lower-case canonical form of the 128 bits hi:lo with the version nibble
// forced to 4 and the variant bits forced to 10 (RFC 4122 section 4.4).
std::string make_uuid_v4(std::uint64_t hi, std::uint64_t lo);

}  // namespace troupe::jobs
