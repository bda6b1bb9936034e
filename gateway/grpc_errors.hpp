// errc -> gRPC status: the one table (the SubmitJob and CancelJob error
// tables of the API reference), plus the trailing metadata a not-the-leader
// answer carries so clients need not parse text.
#pragma once

#include <caf/error.hpp>
#include <grpcpp/grpcpp.h>

#include "protocol/errors.hpp"

namespace troupe {

grpc::StatusCode grpc_code(errc c);

// The status a client sees for a failed request; for not_leader also adds
// leader-id / leader-address trailing metadata to `ctx`.
grpc::Status to_status(grpc::ServerContextBase* ctx, const caf::error& e);

}  // namespace troupe
