#include "config/node_config.hpp"

namespace troupe::config {
namespace {

std::string one_line(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    if (ch == '\n')
      out += "\\n";
    else if (ch == '\r')
      out += "\\r";
    else
      out += ch;
  }
  return out;
}

}  // namespace

const char* to_string(role r) {
  switch (r) {
    case role::read: return "read";
    case role::submit: return "submit";
    case role::admin: return "admin";
  }
  return "unknown";
}

config_error::config_error(const std::string& what) : std::runtime_error(one_line(what)) {}

const member* node_config::find_member(std::uint64_t member_id) const {
  for (const member& m : members)
    if (m.id == member_id) return &m;
  return nullptr;
}

const member& node_config::self() const {
  if (const member* m = find_member(id)) return *m;
  throw config_error(source + ": [node].id: " + std::to_string(id) +
                     " is not the id of any [[members]] entry");
}

}  // namespace troupe::config
