#include "runtime/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace troupe::log {
namespace {
std::atomic<std::uint64_t> node_id_{0};
std::atomic<int> level_{static_cast<int>(level::info)};

const char* name(level l) {
  switch (l) {
    case level::trace: return "TRACE";
    case level::debug: return "DEBUG";
    case level::info: return "INFO ";
    case level::warn: return "WARN ";
    case level::error: return "ERROR";
  }
  return "?    ";
}
}  // namespace

void set_node_id(std::uint64_t id) { node_id_ = id; }
void set_level(level l) { level_ = static_cast<int>(l); }
bool enabled(level l) { return static_cast<int>(l) >= level_.load(std::memory_order_relaxed); }

bool parse_level(std::string_view s, level& out) {
  static const std::pair<std::string_view, level> names[] = {
      {"trace", level::trace}, {"debug", level::debug}, {"info", level::info},
      {"warn", level::warn},   {"error", level::error}};
  for (auto& [n, l] : names)
    if (n == s) {
      out = l;
      return true;
    }
  return false;
}

void write(level l, std::string_view component, std::string_view text) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto micros = duration_cast<microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  std::string out;
  out.reserve(64 + component.size() + text.size());
  out += stamp;
  out += ' ';
  out += name(l);
  out += " node=";
  out += std::to_string(node_id_.load(std::memory_order_relaxed));
  out += ' ';
  out += component;
  out += ": ";
  out += text;
  out += '\n';
  // One write per line keeps lines whole when several threads log at once.
  std::size_t off = 0;
  while (off < out.size()) {
    auto n = ::write(STDERR_FILENO, out.data() + off, out.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace troupe::log
