#include "actors/output_reader.hpp"

#include "protocol/errors.hpp"
#include "runtime/exec/output_store.hpp"

namespace troupe {

output_reader_actor::behavior_type output_reader(output_reader_actor::pointer self, std::string output_dir) {
  return {
      [=](output_atom, const std::string& job_id) -> caf::result<job_output> {
        self->quit();  // one request per reader; the answer still goes out
        try {
          auto s = exec::read_output(output_dir, job_id);
          job_output o;
          o.found = s.found;
          o.stdout_data = std::move(s.stdout_data);
          o.stderr_data = std::move(s.stderr_data);
          o.truncated = s.truncated;
          o.stdout_bytes = s.stdout_bytes;
          o.stderr_bytes = s.stderr_bytes;
          return o;
        } catch (const std::exception& e) {
          return make_error(errc::internal, "cannot read the output of job " + job_id + ": " + e.what());
        }
      },
  };
}

}  // namespace troupe
