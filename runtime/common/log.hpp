// One log format for the whole node:
//   2026-11-27T21:37:25.123456Z INFO  node=1 raft_node: became leader at term 3
// Timestamped (UTC, microseconds), levelled, node id in every line. Thread-safe:
// each line is formatted first and written with a single write(2).
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

namespace troupe::log {

enum class level : int { trace = 0, debug = 1, info = 2, warn = 3, error = 4 };

void set_node_id(std::uint64_t id);
void set_level(level l);
bool parse_level(std::string_view s, level& out);
bool enabled(level l);
void write(level l, std::string_view component, std::string_view text);

// Builds one line and emits it on destruction.
class line {
 public:
  line(level l, std::string_view component) : level_(l), component_(component) {}
  ~line() { write(level_, component_, out_.str()); }
  line(const line&) = delete;
  line& operator=(const line&) = delete;
  template <class T>
  line& operator<<(const T& x) {
    out_ << x;
    return *this;
  }

 private:
  level level_;
  std::string_view component_;
  std::ostringstream out_;
};

// Lets TLOG be one expression (safe inside an unbraced if/else): '&' binds
// looser than '<<', so the whole line is built before it is discarded.
struct voidify {
  void operator&(const line&) {}
};

}  // namespace troupe::log

#define TLOG(lvl, component)                               \
  !::troupe::log::enabled(::troupe::log::level::lvl)       \
      ? (void)0                                            \
      : ::troupe::log::voidify() & ::troupe::log::line(::troupe::log::level::lvl, component)
