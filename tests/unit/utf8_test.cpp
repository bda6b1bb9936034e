// utf8::valid / utf8::is_valid (runtime/common/utf8): job output is bytes,
// text fields get U+FFFD per maximal subpart (Unicode §3.9, WHATWG).
#include <doctest/doctest.h>

#include "runtime/common/utf8.hpp"

using troupe::utf8::is_valid;
using troupe::utf8::valid;

namespace {
const std::string R = "\xEF\xBF\xBD";  // U+FFFD
}

TEST_CASE("valid UTF-8 passes unchanged, from ASCII to U+10FFFF") {
  for (std::string s : {std::string(""), std::string("hello"), std::string("caf\xC3\xA9"),
                        std::string("\xE2\x82\xAC"), std::string("\xED\x9F\xBF"), std::string("\xEE\x80\x80"),
                        std::string("\xF0\x9F\x98\x80"), std::string("\xF4\x8F\xBF\xBF"), std::string("a\0b", 3)}) {
    CHECK(is_valid(s));
    CHECK(valid(s) == s);
  }
}

TEST_CASE("bytes that never start a sequence: one U+FFFD each") {
  CHECK_FALSE(is_valid("\xFF"));
  CHECK(valid("\xFF\xFE" "ok") == R + R + "ok");
  CHECK(valid("\x80") == R);
  CHECK(valid("\xBF\x80") == R + R);
  CHECK(valid("\xF5\x80\x80\x80") == R + R + R + R);
}

TEST_CASE("overlong forms are refused byte by byte") {
  CHECK_FALSE(is_valid("\xC0\xAF"));
  CHECK(valid("\xC0\xAF") == R + R);          // C0, C1 are never leads
  CHECK(valid("\xC1\xBF") == R + R);
  CHECK(valid("\xE0\x80\xAF") == R + R + R);  // E0 needs A0..BF next
  CHECK(valid("\xF0\x80\x80\xAF") == R + R + R + R);
}

TEST_CASE("surrogates U+D800..U+DFFF are refused") {
  CHECK_FALSE(is_valid("\xED\xA0\x80"));
  CHECK(valid("\xED\xA0\x80") == R + R + R);
  CHECK(valid("\xED\xBF\xBF" "x") == R + R + R + "x");
}

TEST_CASE("code points above U+10FFFF are refused") {
  CHECK_FALSE(is_valid("\xF4\x90\x80\x80"));
  CHECK(valid("\xF4\x90\x80\x80") == R + R + R + R);
  CHECK(valid("\xF7\xBF\xBF\xBF") == R + R + R + R);
}

TEST_CASE("a truncated sequence is one U+FFFD for its maximal subpart") {
  CHECK(valid("\xE2\x82") == R);
  CHECK(valid("\xE2\x82" "A") == R + "A");
  CHECK(valid("\xF0\x9F\x98") == R);
  CHECK(valid("\xF0\x9F\x98" "\xF0\x9F\x98\x80") == R + "\xF0\x9F\x98\x80");
  CHECK(valid("\xC3") == R);
  CHECK(valid("a\xC3") == "a" + R);
  // The Unicode standard's own example (§3.9, Table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
  CHECK(valid("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64") ==
        "a" + R + R + R + "b" + R + "c" + R + R + "d");
}

TEST_CASE("the repaired text is itself valid") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  CHECK_FALSE(is_valid(all));
  CHECK(is_valid(valid(all)));
}
