// The reaper half of troupe-job-shim: the process between the node and one
// job at a time (spawn.hpp has the design). The fork server (shim_main.cpp)
// forks a shim when no idle one can take a job; a shim then runs one job
// after another, each with run_job, until the server or the node is gone.
#pragma once

namespace troupe::exec::shim {

// Closes every descriptor from `first` up.
void close_fds_from(int first);

// Makes this process the reaper every job it runs needs: a child subreaper
// that ignores shim::ignored_signals, with SIGCHLD blocked and read from a
// signalfd on fd_signal (close-on-exec), which it returns. Once per shim;
// exits (with a setup error on fd_report) when it cannot.
int become_reaper();

// Runs the job described by argv (shim_protocol.hpp: the magic, its
// settings, "--", the job's argv) with environment envp, on descriptors
// 0-4 as shim_protocol.hpp lays them out, and returns when the job and all
// its descendants are gone: its report is written, 0-2 are closed, and the
// caller closes fd_control and fd_report (EOF there ends the job for the
// node). Returns false when the node is gone (the job was killed and its
// directory emptied): the shim then exits. A job that cannot be set up is
// reported on fd_report and ends the process.
bool run_job(int argc, char** argv, char** envp, int signal_fd);

}  // namespace troupe::exec::shim
