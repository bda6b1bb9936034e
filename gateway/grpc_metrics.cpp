#include "gateway/grpc_metrics.hpp"

#include <string>

#include "runtime/common/metrics.hpp"

namespace troupe {
namespace {

namespace gx = grpc::experimental;

class counting_interceptor final : public gx::Interceptor {
 public:
  explicit counting_interceptor(gx::ServerRpcInfo* info) : method_(info->method() ? info->method() : "unknown") {}

  void Intercept(gx::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics::global()
          .get_counter("troupe_grpc_requests_total", "gRPC calls answered, by method and status code",
                       {{"method", method_}, {"code", grpc_code_name(m->GetSendStatus().error_code())}})
          .inc();
    }
    m->Proceed();
  }

 private:
  std::string method_;
};

class counting_factory final : public gx::ServerInterceptorFactoryInterface {
 public:
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override { return new counting_interceptor(info); }
};

}  // namespace

std::vector<std::unique_ptr<gx::ServerInterceptorFactoryInterface>> grpc_metrics_interceptors() {
  std::vector<std::unique_ptr<gx::ServerInterceptorFactoryInterface>> v;
  v.push_back(std::make_unique<counting_factory>());
  return v;
}

const char* grpc_code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

}  // namespace troupe
