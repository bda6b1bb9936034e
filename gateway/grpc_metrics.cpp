#include "gateway/grpc_metrics.hpp"
#include "protocol/grpc_status_names.hpp"

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


}  // namespace troupe
