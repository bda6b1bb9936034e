#include "transport/grpc_status.hpp"

#include <map>
#include <string>

#include "protocol/errors.hpp"

namespace troupe::transport {
namespace {

struct row {
  errc code;
  grpc::StatusCode status;
};

// errc -> status takes the first row of an errc; status -> errc the first row
// of a status. FAILED_PRECONDITION reads back as not_leader when the leader
// metadata came with it. The rows after the blank line only read back codes
// that no troupe error is answered with (a peer going away, an older peer).
constexpr row table[] = {
    {errc::failed_precondition, grpc::StatusCode::FAILED_PRECONDITION},
    {errc::not_leader, grpc::StatusCode::FAILED_PRECONDITION},
    {errc::not_found, grpc::StatusCode::NOT_FOUND},
    {errc::invalid_argument, grpc::StatusCode::INVALID_ARGUMENT},
    {errc::resource_exhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {errc::unavailable, grpc::StatusCode::UNAVAILABLE},
    {errc::deadline_exceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
    {errc::internal, grpc::StatusCode::INTERNAL},
    {errc::unauthenticated, grpc::StatusCode::UNAUTHENTICATED},
    {errc::permission_denied, grpc::StatusCode::PERMISSION_DENIED},

    {errc::unavailable, grpc::StatusCode::CANCELLED},
    {errc::unavailable, grpc::StatusCode::ABORTED},
    {errc::internal, grpc::StatusCode::UNKNOWN},
    {errc::internal, grpc::StatusCode::UNIMPLEMENTED},
};

constexpr char leader_id_key[] = "leader-id";
constexpr char leader_address_key[] = "leader-address";

std::string metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& md, const char* key) {
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

grpc::Status to_status(grpc::ServerContextBase& ctx, const caf::error& e) {
  auto info = describe(e);
  if (info.code == errc::not_leader) {
    ctx.AddTrailingMetadata(leader_id_key, std::to_string(info.leader_id));
    ctx.AddTrailingMetadata(leader_address_key, info.leader_address);
  }
  for (const auto& r : table)
    if (r.code == info.code) return grpc::Status(r.status, info.message);
  return grpc::Status(grpc::StatusCode::INTERNAL, info.message);
}

caf::error from_status(const grpc::Status& s, const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION && md.count(leader_id_key)) {
    std::uint64_t id = 0;
    try {
      id = std::stoull(metadata(md, leader_id_key));
    } catch (const std::exception&) {
    }
    return not_leader_error(id, metadata(md, leader_address_key));
  }
  for (const auto& r : table)
    if (r.status == s.error_code()) return make_error(r.code, s.error_message());
  return make_error(errc::internal, s.error_message());
}

}  // namespace troupe::transport
