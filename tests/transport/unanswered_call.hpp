// A server's answer to a unary call that never comes: the call stays open
// until its client cancels it (or its deadline passes). Tests of what a
// stopping node does with the calls it has in flight return one from a
// callback service's handler.
#pragma once

#include <grpcpp/grpcpp.h>

namespace troupe::test {

struct unanswered_call final : grpc::ServerUnaryReactor {
  void OnCancel() override { Finish(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }
};

}  // namespace troupe::test
