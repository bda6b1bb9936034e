#include "service/job_output.hpp"

#include "config/timeouts.hpp"
#include "runtime/common/log.hpp"
#include "runtime/exec/output_store.hpp"
#include "service/peer_calls.hpp"

namespace troupe {

job_output local_output(const config::node_config& cfg, const std::string& job_id) {
  job_output o;
  try {
    auto s = exec::read_output(cfg.data_dir + "/outputs", job_id);
    o.found = s.found;
    o.stdout_data = std::move(s.stdout_data);
    o.stderr_data = std::move(s.stderr_data);
    o.truncated = s.truncated;
    o.stdout_bytes = s.stdout_bytes;
    o.stderr_bytes = s.stderr_bytes;
  } catch (const std::exception& e) {
    TLOG(warn, "node_service") << "output of job " << job_id << " is unreadable: " << e.what();
  }
  return o;
}

void fetch_output(node_service_actor::pointer self, const ctx_ptr& c, std::uint64_t node, const std::string& job_id,
                  std::function<void(job_output)> then) {
  if (node == c->cfg.id) return then(local_output(c->cfg, job_id));
  auto* stub = c->peers->internal(node);
  if (!stub) return then(job_output{});  // the replicated (inline) output stays
  auto req = std::make_shared<internalpb::GetJobOutputRequest>();
  req->set_job_id(job_id);
  auto resp = std::make_shared<internalpb::GetJobOutputResponse>();
  peer_calls::call(
      self, config::query_timeout, false,
      [=](grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->GetJobOutput(ctx, req.get(), resp.get(), std::move(cb));
      },
      [=](const grpc::Status& s, const grpc::ClientContext&) {
        job_output o;
        if (s.ok() && resp->found()) {
          o.found = true;
          o.stdout_data = resp->stdout_data();
          o.stderr_data = resp->stderr_data();
          o.truncated = resp->truncated();
          o.stdout_bytes = resp->stdout_size();
          o.stderr_bytes = resp->stderr_size();
        }
        then(std::move(o));
      });
}

}  // namespace troupe
