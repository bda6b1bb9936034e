// The per-job half of troupe-job-shim: the reaper between the node and one
// job (spawn.hpp has the design). The fork server (shim_main.cpp) forks one
// per job and calls run_job_shim there.
#pragma once

namespace troupe::exec::shim {

// Closes every descriptor from `first` up.
void close_fds_from(int first);

// Runs the job described by argv (shim_protocol.hpp: the magic, its
// settings, "--", the job's argv) with environment envp, on descriptors
// 0-4 as shim_protocol.hpp lays them out, and exits when the job and all
// its descendants are gone. Never returns.
[[noreturn]] void run_job_shim(int argc, char** argv, char** envp);

}  // namespace troupe::exec::shim
