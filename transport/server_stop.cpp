#include "transport/server_stop.hpp"

#include <grpcpp/completion_queue.h>
#include <grpcpp/impl/codegen/completion_queue_tag.h>

#include "runtime/common/log.hpp"

namespace troupe::transport {
namespace {

namespace gx = grpc::experimental;

class unary_counter final : public gx::Interceptor {
 public:
  explicit unary_counter(std::shared_ptr<stream_count> open) : open_(std::move(open)) { open_->add(); }
  ~unary_counter() override { open_->remove(); }
  unary_counter(const unary_counter&) = delete;
  unary_counter& operator=(const unary_counter&) = delete;
  void Intercept(gx::InterceptorBatchMethods* m) override { m->Proceed(); }

 private:
  std::shared_ptr<stream_count> open_;
};

class unary_counter_factory final : public gx::ServerInterceptorFactoryInterface {
 public:
  explicit unary_counter_factory(std::shared_ptr<stream_count> open) : open_(std::move(open)) {}
  // Streams are not counted: they are cut (nullptr: no interceptor for them).
  gx::Interceptor* CreateServerInterceptor(gx::ServerRpcInfo* info) override {
    return info->type() == gx::ServerRpcInfo::Type::UNARY ? new unary_counter(open_) : nullptr;
  }

 private:
  std::shared_ptr<stream_count> open_;
};

// The tag of a notification nobody reads: Shutdown waits for the same end.
struct unseen final : grpc::internal::CompletionQueueTag {
  bool FinalizeResult(void**, bool*) override { return false; }
};

}  // namespace

std::unique_ptr<gx::ServerInterceptorFactoryInterface> server_stop::call_counter() const {
  return std::make_unique<unary_counter_factory>(unary_open_);
}

void server_stop::stop(grpc::Server& server, std::chrono::milliseconds margin) const {
  // What Shutdown starts with: no new calls or connections, every client
  // told to go away.
  unseen tag;
  grpc::CompletionQueue notified;
  grpc_server_shutdown_and_notify(server.c_server(), notified.cq(), &tag);
  if (!unary_open_->wait_idle(margin))
    TLOG(warn, "grpc_gateway") << "calls still unanswered after " << margin.count() << " ms; cancelling them";
  grpc_server_cancel_all_calls(server.c_server());
  server.Shutdown(std::chrono::system_clock::now() + margin);
  notified.Shutdown();
  void* surfaced = nullptr;
  bool ok = false;
  while (notified.Next(&surfaced, &ok)) {
  }
}

}  // namespace troupe::transport
