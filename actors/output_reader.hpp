// output_reader: reads one job's stored output (data_dir/outputs/<job>/) for
// job_supervisor. Spawned detached for a single request, so the disk read
// runs on a thread of its own: neither the supervisor's mailbox nor a gRPC or
// HTTP thread waits on the disk. Answers, then exits.
#pragma once

#include <string>

#include "actors/interfaces.hpp"

namespace troupe {

using output_reader_actor = caf::typed_actor<caf::replies_to<output_atom, std::string>::with<job_output>>;

output_reader_actor::behavior_type output_reader(output_reader_actor::pointer self, std::string output_dir);

}  // namespace troupe
