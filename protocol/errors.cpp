#include "protocol/errors.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace troupe {

const char* to_string(errc c) {
  switch (c) {
    case errc::not_leader: return "not_leader";
    case errc::not_found: return "not_found";
    case errc::invalid_argument: return "invalid_argument";
    case errc::failed_precondition: return "failed_precondition";
    case errc::resource_exhausted: return "resource_exhausted";
    case errc::unavailable: return "unavailable";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::internal: return "internal";
    case errc::unauthenticated: return "unauthenticated";
    case errc::permission_denied: return "permission_denied";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string message) {
  return caf::error(static_cast<std::uint8_t>(code), error_category,
                    caf::make_message(std::move(message), std::uint64_t{0}, std::string()));
}

caf::error not_leader_error(std::uint64_t leader_id, const std::string& leader_address) {
  std::string msg = leader_id == 0 ? std::string("Not the leader: the leader is unknown (election in progress)")
                                   : "Not the leader: leader is node " + std::to_string(leader_id) +
                                         (leader_address.empty() ? std::string() : " at " + leader_address);
  return caf::error(static_cast<std::uint8_t>(errc::not_leader), error_category,
                    caf::make_message(std::move(msg), leader_id, leader_address));
}

error_info describe(const caf::error& e) {
  error_info out;
  if (e.category() == error_category) {
    out.code = static_cast<errc>(e.code());
    const auto& ctx = e.context();
    if (ctx.match_elements<std::string, std::uint64_t, std::string>()) {
      out.message = ctx.get_as<std::string>(0);
      out.leader_id = ctx.get_as<std::uint64_t>(1);
      out.leader_address = ctx.get_as<std::string>(2);
    }
    return out;
  }
  if (e.category() == caf::atom("system")) {
    auto s = static_cast<caf::sec>(e.code());
    if (s == caf::sec::request_timeout) {
      out.code = errc::deadline_exceeded;
      out.message = "the node did not answer in time";
      return out;
    }
    out.code = errc::unavailable;
    out.message = std::string("the node is not answering: ") + caf::to_string(s);
    return out;
  }
  out.code = errc::internal;
  out.message = caf::to_string(e);
  return out;
}

void register_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category, [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string s = std::string("troupe::") + to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string, std::uint64_t, std::string>()) s += ": " + ctx.get_as<std::string>(0);
    return s;
  });
}

}  // namespace troupe
