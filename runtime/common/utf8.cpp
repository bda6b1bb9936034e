#include "runtime/common/utf8.hpp"

namespace troupe::utf8 {
namespace {

// Length of the well-formed sequence at s[i], or 0 when ill-formed; in that
// case *subpart is the length of its maximal subpart (>= 1): the lead byte
// plus the continuation bytes that were still allowed where they stood.
std::size_t sequence_at(std::string_view s, std::size_t i, std::size_t* subpart) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  *subpart = 1;
  if (c < 0x80) return 1;
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c == 0xE0) {
    need = 2, lo = 0xA0;  // no overlong 3-byte forms
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    need = 2;
  } else if (c == 0xED) {
    need = 2, hi = 0x9F;  // no surrogates U+D800..U+DFFF
  } else if (c == 0xF0) {
    need = 3, lo = 0x90;  // no overlong 4-byte forms
  } else if (c >= 0xF1 && c <= 0xF3) {
    need = 3;
  } else if (c == 0xF4) {
    need = 3, hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;  // 80..C1 (continuation or overlong 2-byte lead), F5..FF
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;  // truncated: the subpart so far
    const unsigned char x = b(i + k);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (x < l || x > h) return 0;
    *subpart = k + 1;
  }
  return need + 1;
}

}  // namespace

bool is_valid(std::string_view s) {
  std::size_t sub;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_at(s, i, &sub);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string valid(std::string_view s) {
  if (is_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  std::size_t sub;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_at(s, i, &sub);
    if (n) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      i += sub;
    }
  }
  return out;
}

}  // namespace troupe::utf8
