#include "runtime/jobs/page_token.hpp"

#include <cstddef>
#include <cstdint>

namespace troupe::jobs {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";
constexpr std::uint64_t sign_bit = std::uint64_t{1} << 63;
constexpr std::size_t time_hex_chars = 16;

void append_hex_byte(std::string& out, unsigned char b) {
  out.push_back(hex_digits[b >> 4]);
  out.push_back(hex_digits[b & 0xF]);
}

// Only lower-case digits: a token has exactly one spelling.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string encode_page_token(const list_cursor& c) {
  std::string out;
  out.reserve(time_hex_chars + 2 * c.id.size());
  std::uint64_t biased = static_cast<std::uint64_t>(c.created_at_ns) ^ sign_bit;
  for (int shift = 56; shift >= 0; shift -= 8) append_hex_byte(out, static_cast<unsigned char>(biased >> shift));
  for (char ch : c.id) append_hex_byte(out, static_cast<unsigned char>(ch));
  return out;
}

std::optional<list_cursor> decode_page_token(std::string_view token) {
  if (token.size() <= time_hex_chars || token.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(token.size() / 2);
  for (std::size_t i = 0; i < token.size(); i += 2) {
    int high = hex_value(token[i]), low = hex_value(token[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>((high << 4) | low));
  }
  std::uint64_t biased = 0;
  for (std::size_t i = 0; i < 8; ++i) biased = (biased << 8) | static_cast<unsigned char>(bytes[i]);
  list_cursor c;
  c.created_at_ns = static_cast<std::int64_t>(biased ^ sign_bit);
  c.id = bytes.substr(8);
  return c;
}

}  // namespace troupe::jobs
