#include "runtime/exec/backend.hpp"

#include <exception>
#include <thread>

#include "runtime/exec/start_journal.hpp"

namespace troupe::exec {

void backend::start(const job_spec& spec, std::shared_ptr<cancel_token> cancel, done_callback done) {
  // A blocking backend needs a thread per running job. The shared_ptr keeps
  // the backend alive until its run returns (the caller may drop its own
  // reference first, e.g. when the node stops).
  std::shared_ptr<backend> keep = weak_from_this().lock();
  std::thread([this, keep, spec, cancel = std::move(cancel), done = std::move(done)] {
    job_result r;
    try {
      if (spec.journal) spec.journal->record(spec.job_id, spec.attempt);
    } catch (const std::exception& e) {
      r.result = outcome::failed;
      r.error = std::string("cannot record the job's start: ") + e.what();
      done(std::move(r));
      return;
    }
    try {
      r = run(spec, *cancel);
    } catch (const std::exception& e) {
      r.result = outcome::failed;
      r.error = std::string("executor error: ") + e.what();
    }
    done(std::move(r));
  }).detach();
}

}  // namespace troupe::exec
