// A job's command is a shell command: the process backend runs it as
// `/bin/sh -c COMMAND`. When COMMAND is one external program with literal
// arguments (`python3 train.py --epochs=3`), all the shell does is search
// PATH, fork, exec the program, wait, and pass its status on: dash, Debian's
// /bin/sh, forks even for the last command of `-c`. The job shim then does
// the same without the shell, which saves starting it and its fork (on the
// PVM host 3.8 of the 6.2 ms of CPU such a job cost; docs/BENCHMARKS.md,
// thirty-fifth round). What the job sees does not change, except that its
// parent process is the shim rather than a shell:
//
// - only commands whose every character the shell takes literally qualify
//   (single quotes included, which only make what they enclose literal, and
//   double quotes around text without `$`, a backquote or a backslash),
//   and not when the first word holds a `=` (an assignment), is a reserved
//   word or a builtin of dash's (`echo`, `true`, `cd` run in the shell as
//   before);
// - the program is looked up in the job's PATH, in order, as the shell
//   does; anything but "no such file" on a directory (not executable, a
//   script without `#!`, too long) hands the command to the shell, which
//   then fails or runs it exactly as before, with its own message;
// - a program killed by a signal is reported as the shell reports it:
//   exit code 128 + the signal, and dash's line ("Segmentation fault") on
//   the job's stderr.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::exec {

// The words of `command`, split at spaces outside quotes and with the
// quotes removed, when running them directly is what `/bin/sh -c command`
// does; nullopt otherwise.
std::optional<std::vector<std::string>> direct_words(std::string_view command);

// Where the shell looks for `name`, in order: `name` itself when it holds a
// '/', else each directory of `path` (PATH's value; an empty element is the
// current directory) with `/name` appended.
std::vector<std::string> search_paths(const std::string& name, std::string_view path);

// What dash writes to stderr when the command it waits for is killed by
// `sig` (its sprint_status): strsignal's text, at most 31 characters,
// " (core dumped)" if so, and a newline; nothing for SIGINT and SIGPIPE.
std::string shell_signal_line(int sig, bool core_dumped);

}  // namespace troupe::exec
