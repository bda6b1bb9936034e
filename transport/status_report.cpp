#include "transport/status_report.hpp"

namespace troupe {

caf::error error_of(const outcome& o) {
  if (o.ok()) return {};
  if (o.not_leader) return not_leader_error(o.leader_id, o.leader_address);
  switch (o.status) {
    case code::ok: return {};
    case code::failed_precondition: return make_error(errc::failed_precondition, o.message);
    case code::resource_exhausted: return make_error(errc::resource_exhausted, o.message);
    case code::deadline_exceeded: return make_error(errc::deadline_exceeded, o.message);
    case code::unavailable: return make_error(errc::unavailable, o.message);
    case code::invalid_argument: return make_error(errc::invalid_argument, o.message);
    case code::not_found: return make_error(errc::not_found, o.message);
    case code::internal: return make_error(errc::internal, o.message);
  }
  return make_error(errc::internal, o.message);
}

bool is_final(errc c) {
  switch (c) {
    case errc::not_found:
    case errc::failed_precondition:
    case errc::invalid_argument:
      return true;
    case errc::not_leader:
    case errc::resource_exhausted:
    case errc::unavailable:
    case errc::deadline_exceeded:
    case errc::internal:
      return false;
  }
  return false;
}

report_ack acknowledge(std::uint64_t seq, const caf::error& e) {
  if (!e) return {seq, true, "applied"};
  auto info = describe(e);
  return {seq, is_final(info.code), info.message};
}

logpb::Command status_command(const status_batch& b) {
  logpb::Command cmd;
  auto* batch = cmd.mutable_batch_update_job_status();
  for (const auto& u : b.updates) *batch->add_updates() = u;
  return cmd;
}

}  // namespace troupe
