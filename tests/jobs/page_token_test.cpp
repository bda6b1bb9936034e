#include <doctest/doctest.h>

#include <limits>

#include "runtime/jobs/page_token.hpp"

using namespace troupe::jobs;

TEST_CASE("page tokens round-trip cursors, including negative and extreme times") {
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1769604341231558433},
                         std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
    list_cursor c{t, "123e4567-e89b-42d3-a456-426614174000"};
    auto back = decode_page_token(encode_page_token(c));
    REQUIRE(back.has_value());
    CHECK(*back == c);
  }
  list_cursor binary{5, std::string("a\0b\xff", 4)};
  CHECK(decode_page_token(encode_page_token(binary)) == binary);
}

TEST_CASE("page tokens sort like their cursors") {
  CHECK(encode_page_token({-5, "a"}) < encode_page_token({3, "a"}));
  CHECK(encode_page_token({3, "a"}) < encode_page_token({3, "b"}));
}

TEST_CASE("decode_page_token rejects what encode_page_token cannot produce") {
  CHECK_FALSE(decode_page_token("").has_value());
  CHECK_FALSE(decode_page_token("not a token").has_value());
  CHECK_FALSE(decode_page_token("8000000000000000").has_value());    // no id
  CHECK_FALSE(decode_page_token("800000000000000061a").has_value());  // odd length
  CHECK_FALSE(decode_page_token("80000000000000006G").has_value());   // non-hex
  CHECK_FALSE(decode_page_token("800000000000000").has_value());
  CHECK_FALSE(decode_page_token("8000000000000000 61").has_value());
  CHECK(decode_page_token("800000000000000061").has_value());  // {0, "a"}
  CHECK_FALSE(decode_page_token("800000000000000061").value().id.empty());
  // Upper-case digits are a different spelling, not the token we issued.
  CHECK_FALSE(decode_page_token("80000000000000006A").has_value());
}
