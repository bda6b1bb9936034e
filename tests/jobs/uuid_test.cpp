#include <doctest/doctest.h>

#include <random>
#include <set>

#include "runtime/jobs/uuid.hpp"

using namespace troupe::jobs;

TEST_CASE("is_valid_uuid accepts the canonical form in either case") {
  CHECK(is_valid_uuid("123e4567-e89b-42d3-a456-426614174000"));
  CHECK(is_valid_uuid("123E4567-E89B-42D3-A456-426614174000"));
  CHECK(is_valid_uuid("00000000-0000-0000-0000-000000000000"));
}

TEST_CASE("is_valid_uuid rejects other shapes") {
  CHECK_FALSE(is_valid_uuid(""));
  CHECK_FALSE(is_valid_uuid("123e4567e89b42d3a456426614174000"));       // no hyphens
  CHECK_FALSE(is_valid_uuid("{123e4567-e89b-42d3-a456-426614174000}"));  // braces
  CHECK_FALSE(is_valid_uuid("123e4567-e89b-42d3-a456-42661417400"));    // 35 chars
  CHECK_FALSE(is_valid_uuid("123e4567-e89b-42d3-a456-4266141740000"));  // 37 chars
  CHECK_FALSE(is_valid_uuid("123e4567-e89b-42d3-a456_426614174000"));   // wrong separator
  CHECK_FALSE(is_valid_uuid("123e4567-e89b-42d3-a4560426614174000-"));  // hyphen moved
  CHECK_FALSE(is_valid_uuid("123e4567-e89b-42d3-a456-42661417400g"));   // non-hex
  CHECK_FALSE(is_valid_uuid("123e4567-e89b-42d3-a456-4266141740 0"));
}

TEST_CASE("make_uuid_v4 lays out the bits and forces version and variant") {
  CHECK(make_uuid_v4(0, 0) == "00000000-0000-4000-8000-000000000000");
  CHECK(make_uuid_v4(~0ULL, ~0ULL) == "ffffffff-ffff-4fff-bfff-ffffffffffff");
  CHECK(make_uuid_v4(0x0123456789abcdefULL, 0xfedcba9876543210ULL) == "01234567-89ab-4def-bedc-ba9876543210");
}

TEST_CASE("make_uuid_v4 output is valid, version 4, RFC 4122 variant and distinct") {
  std::mt19937_64 rng(7);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = make_uuid_v4(rng(), rng());
    REQUIRE(is_valid_uuid(id));
    CHECK(id[14] == '4');
    CHECK((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'));
    CHECK(seen.insert(id).second);
  }
}
