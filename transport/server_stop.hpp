// Stopping the node's gRPC server without waiting for idle clients.
// grpc::Server::Shutdown(deadline) waits, up to the deadline, for the calls
// in flight and for every client to close its connection once told to go
// away; a client that does not read its socket between calls (a synchronous
// stub, idle) never does, and held every stop for the whole deadline. This
// stops taking calls, gives the unary calls in flight the margin to be
// answered, then cuts every connection with whatever still streams on it.
#pragma once

#include <chrono>
#include <memory>

#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>

#include "transport/raft_stream.hpp"

namespace troupe::transport {

class server_stop {
 public:
  // For ServerBuilder::experimental().SetInterceptorCreators(): counts each
  // unary call from its start until it is over (answered or cancelled).
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> call_counter() const;

  // Returns once the server has stopped.
  void stop(grpc::Server& server, std::chrono::milliseconds margin) const;

 private:
  std::shared_ptr<stream_count> unary_open_ = std::make_shared<stream_count>();
};

}  // namespace troupe::transport
