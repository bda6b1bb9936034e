#include "service/job_output.hpp"

#include "config/timeouts.hpp"
#include "runtime/common/log.hpp"
#include "protocol/errors.hpp"

namespace troupe {

void fetch_output(node_service_actor::pointer self, const ctx_ptr& c, std::uint64_t node, const std::string& job_id,
                  std::function<void(job_output)> then) {
  // This node's outputs are read by its supervisor (off the service's
  // thread), another node's through the transport; a failure leaves the
  // replicated (inline) output as the answer.
  auto on_error = [=](const caf::error& e) {
    TLOG(debug, "node_service") << "output of job " << job_id << " from node " << node << ": "
                                << describe(e).message;
    then(job_output{});
  };
  if (node == c->cfg.id) {
    self->request(c->supervisor, config::query_timeout, output_atom::value, job_id)
        .then([=](job_output& o) { then(std::move(o)); }, on_error);
    return;
  }
  self->request(c->transport, config::forwarded_query_wait(), output_atom::value, node, job_id)
      .then([=](job_output& o) { then(std::move(o)); }, on_error);
}

}  // namespace troupe
