#include "config/cpu_list.hpp"

#include <charconv>
#include <set>

namespace troupe::config {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// One CPU number: digits only, at most max_cpu.
std::optional<unsigned> cpu_number(const std::string& s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max_cpu) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::vector<unsigned>> parse_cpu_list(const std::string& text, std::string& error) {
  std::set<unsigned> cpus;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = trim(text.substr(pos, comma - pos));
    pos = comma + 1;
    const std::size_t dash = item.find('-');
    auto first = cpu_number(item.substr(0, dash));
    auto last = dash == std::string::npos ? first : cpu_number(item.substr(dash + 1));
    if (!first || !last) {
      error = "\"" + item + "\" is not a CPU number (0-" + std::to_string(max_cpu) + ") or a range of them like 2-5";
      return std::nullopt;
    }
    if (*first > *last) {
      error = "the range \"" + item + "\" runs backwards";
      return std::nullopt;
    }
    for (unsigned c = *first; c <= *last; ++c) cpus.insert(c);
  }
  return std::vector<unsigned>(cpus.begin(), cpus.end());
}

}  // namespace troupe::config
