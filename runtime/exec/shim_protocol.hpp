// What the node and the job shim (troupe-job-shim: the fork server in
// shim_main.cpp, the reaper in shim_job.cpp) agree on: the server's
// command line and requests, a shim's fixed descriptor layout, a job's
// arguments and its report records. Shared by both sides so they cannot
// drift apart; the shim is a separate executable (see spawn.hpp for why it
// exists and why the node never forks itself).
#pragma once

#include <csignal>
#include <cstdint>

namespace troupe::exec::shim {

// The fork server: argv = {path, server_magic}, started once per backend
// with /dev/null on 0-2 and its end of a unix stream socket on 3 (EOF there:
// the node is gone, the server exits). A request is a 4-byte length (host
// order) and that many bytes: the job's argc and envc for its shim (4
// bytes each), then argc + envc NUL-terminated strings (the argv below,
// then the job's whole environment). The five descriptors the shim runs the
// job with as 0-4 travel with the request's first byte (SCM_RIGHTS), in that
// order. The server passes a request on to an idle shim in the same form.
constexpr const char* server_magic = "troupe-job-shim-server-v1";
constexpr int fd_server_socket = 3;
constexpr std::uint32_t max_request_bytes = 8u << 20;  // commands are at most 1 MiB ([jobs] max_command_bytes)

// Descriptors a shim runs a job with (the ones its request carried): the
// job keeps 0-2; 3 and 4 are the shim's own. The shim closes all five once
// the job is over (the node sees EOF on the report then).
constexpr int fd_stdin = 0;    // /dev/null
constexpr int fd_stdout = 1;   // the job's stdout pipe
constexpr int fd_stderr = 2;   // the job's stderr pipe
constexpr int fd_control = 3;  // a byte or EOF: kill the whole job
constexpr int fd_report = 4;   // the shim's report to the node
constexpr int first_free_fd = 5;

// A shim's own descriptors beside its job's: its socket to the server, on
// which it says it is idle (one shim_ready byte after each job) and then
// receives its next request, as the server receives them from the node;
// and its SIGCHLD signalfd. Both close-on-exec; nothing else stays open.
constexpr int fd_channel = 5;
constexpr int fd_signal = 6;
constexpr int shim_fds_end = 7;
constexpr char shim_ready = 'R';

// A job's arguments for its shim, in this order; the job's argv follows
// "--". Its environment is the job's whole environment (the shim itself
// reads none).
constexpr const char* magic = "troupe-job-shim-v2";
enum arg : int {
  arg_magic = 1,
  arg_work_dir,        // absolute path of the job's working directory
  arg_switch_user,     // "1": drop to uid/gid below (the node is root); "0": keep the node's user
  arg_user_name,       // for error messages only
  arg_uid,
  arg_gid,
  arg_max_processes,   // RLIMIT_NPROC (0: unchanged)
  arg_max_file_bytes,  // RLIMIT_FSIZE (0: unchanged)
  arg_cpu_seconds,     // RLIMIT_CPU soft; hard one second later (0: unchanged)
  arg_as_bytes,        // RLIMIT_AS (0: unchanged)
  arg_nice,            // 0-19: the job's nice value (never lowered below the node's own)
  arg_separator,       // "--"
  arg_job_argv,        // the job's argv[0] (an absolute path), then its arguments
};

// Report records on fd_report: any number of "E<text>\n" (the job could not
// be started), then one status record "S" + int wait status + 1 byte
// (1: the job's shell was reaped) when the shim cleaned up normally.
constexpr char report_setup_error = 'E';
constexpr char report_status = 'S';

// The only signal dispositions the shim changes: the server and every
// shim ignore these (a terminal's signals and a closed pipe must not
// end them). The server starts from the default of every signal (it resets
// them all first), so a job's shell restores just these before its exec;
// handlers never survive an exec, an ignored signal would.
constexpr int ignored_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE};

// Exit codes of the shim for problems it cannot report otherwise.
constexpr int exit_bad_usage = 119;  // argv, request or descriptors not as agreed
constexpr int exit_setup = 120;      // subreaper, signalfd or fork failed (reported as E too)
constexpr int exit_node_gone = 121;  // the node died before the job started

}  // namespace troupe::exec::shim
