#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/storage/crc32c.hpp"

using namespace troupe::storage;

namespace {

// Known answers: the standard check value and the iSCSI vectors of RFC 3720
// appendix B.4.
struct vector_case {
  std::string input;
  std::uint32_t crc;
};

std::vector<vector_case> known_vectors() {
  std::string ascending(32, '\0'), descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  return {
      {"", 0x00000000u},
      {"123456789", 0xE3069283u},
      {std::string(32, '\0'), 0x8A9136AAu},
      {std::string(32, '\xff'), 0x62A8AB43u},
      {ascending, 0x46DD794Eu},
      {descending, 0x113FDB5Cu},
  };
}

}  // namespace

TEST_SUITE("crc32c") {
  TEST_CASE("table implementation matches known vectors") {
    for (const auto& v : known_vectors()) CHECK(crc32c_extend_table(0, v.input.data(), v.input.size()) == v.crc);
  }

  TEST_CASE("dispatching implementation matches known vectors") {
    for (const auto& v : known_vectors()) CHECK(crc32c(v.input) == v.crc);
  }

  TEST_CASE("SSE4.2 implementation matches the table one at every length and alignment") {
    if (!crc32c_hardware_available()) {
      MESSAGE("CPU has no SSE4.2; hardware path not exercised");
      return;
    }
    std::string buf(300, '\0');
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<char>(i * 37 + 11);
    for (std::size_t start = 0; start < 9; ++start)
      for (std::size_t len = 0; start + len <= buf.size(); len += 7)
        REQUIRE(crc32c_extend_sse42(0, buf.data() + start, len) == crc32c_extend_table(0, buf.data() + start, len));
    for (const auto& v : known_vectors()) CHECK(crc32c_extend_sse42(0, v.input.data(), v.input.size()) == v.crc);
  }

  TEST_CASE("extend continues a CRC across split points") {
    const std::string s = "The quick brown fox jumps over the lazy dog, twice over.";
    const std::uint32_t whole = crc32c(s);
    for (std::size_t cut = 0; cut <= s.size(); ++cut)
      CHECK(crc32c_extend(crc32c(s.data(), cut), s.data() + cut, s.size() - cut) == whole);
  }

  TEST_CASE("combine gives the CRC of a + b from the CRCs of a and b and b's length") {
    std::string s(70000, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 131 + (i >> 9));
    const std::uint32_t whole = crc32c(s);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{58}, std::size_t{4096},
                            std::size_t{65537}, s.size() - 1, s.size()}) {
      const std::string_view a = std::string_view(s).substr(0, cut), b = std::string_view(s).substr(cut);
      CHECK(crc32c_combine(crc32c(a), crc32c(b), b.size()) == whole);
    }
    CHECK(crc32c_combine(0, 0, 0) == 0);
    CHECK(crc32c_combine(crc32c("abc"), 0, 0) == crc32c("abc"));
  }

  TEST_CASE("a single flipped bit changes the CRC") {
    std::string s(64, 'a');
    const std::uint32_t base = crc32c(s);
    for (std::size_t bit = 0; bit < s.size() * 8; ++bit) {
      std::string t = s;
      t[bit / 8] = static_cast<char>(t[bit / 8] ^ (1 << (bit % 8)));
      REQUIRE(crc32c(t) != base);
    }
  }
}
