#include "transport/status_report.hpp"

namespace troupe {

bool is_final(errc c) {
  switch (c) {
    case errc::not_found:
    case errc::failed_precondition:
    case errc::invalid_argument:
    case errc::unauthenticated:
    case errc::permission_denied:
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
