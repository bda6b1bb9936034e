// grpc_metrics: a server interceptor that counts every gRPC call this node
// answers, by method and status code, in troupe_grpc_requests_total. One
// interceptor instead of a counter in each handler, so no Finish path is missed.
#pragma once

#include <memory>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

namespace troupe {

// For grpc::ServerBuilder::experimental().SetInterceptorCreators().
std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> grpc_metrics_interceptors();

}  // namespace troupe
