// direct_command: which job commands the shim runs without /bin/sh, where it
// looks for the program, and the line dash prints for a killed command.
#include <doctest/doctest.h>

#include <csignal>

#include "runtime/exec/direct_command.hpp"

using troupe::exec::direct_words;
using troupe::exec::search_paths;
using troupe::exec::shell_signal_line;

namespace {
using words = std::vector<std::string>;
}

TEST_CASE("direct_command: a program with literal arguments is split at spaces") {
  CHECK(direct_words("python3 train.py --epochs=3") == words{"python3", "train.py", "--epochs=3"});
  CHECK(direct_words("  /usr/bin/env   ") == words{"/usr/bin/env"});
  CHECK(direct_words("sleep 0.5") == words{"sleep", "0.5"});
  CHECK(direct_words("rsync -a src/ user@host:/dst,x+y%z") == words{"rsync", "-a", "src/", "user@host:/dst,x+y%z"});
  CHECK(direct_words("/bin/true") == words{"/bin/true"});  // a path is never a builtin
}

TEST_CASE("direct_command: single quotes make anything literal and are removed") {
  CHECK(direct_words("python3 -c 'print(\"a $b\")' x") == words{"python3", "-c", "print(\"a $b\")", "x"});
  CHECK(direct_words("grep 'a  b' c''d '' 'x'y'z'") == words{"grep", "a  b", "cd", "", "xyz"});
  CHECK(direct_words("awk 'line1\nline2;*?|&<>'") == words{"awk", "line1\nline2;*?|&<>"});
  CHECK(direct_words("a '\\'") == words{"a", "\\"});  // no escape inside single quotes
  CHECK_FALSE(direct_words("a 'unterminated"));
  CHECK_FALSE(direct_words("a 'b'$c"));  // what follows the quotes is not literal
  CHECK_FALSE(direct_words("'true'"));   // still dash's builtin, quoted or not
  CHECK_FALSE(direct_words("'FOO=1' env"));  // not an assignment, but left to the shell
}

TEST_CASE("direct_command: double quotes around text the shell does not expand there") {
  CHECK(direct_words("run --name \"run 2; *.txt ~ 'x'\"") == words{"run", "--name", "run 2; *.txt ~ 'x'"});
  CHECK(direct_words("a \"\"b\"c\"'d'") == words{"a", "bcd"});
  CHECK_FALSE(direct_words("a \"unterminated"));
  for (const char* c : {"a \"$HOME\"", "a \"`id`\"", "a \"\\\"\""})
    CHECK_MESSAGE(!direct_words(c), std::string(c));
}

TEST_CASE("direct_command: anything the shell would interpret stays with the shell") {
  for (const char* c : {"echo $HOME", "ls *.txt", "a; b", "a && b", "a | b", "a > f", "a < f", "a & b", "(a)",
                        "a \"$b\"", "a \"`b`\"", "a \"\\b\"", "a \\b", "a `b`", "ls ~", "a # comment", "a\tb", "a\nb", "[ -f x ]",
                        "a {b,c}", "a !b", "a ^b", "ls [ab]", "ls a?"})
    CHECK_MESSAGE(!direct_words(c), std::string(c));
  CHECK_FALSE(direct_words(""));
  CHECK_FALSE(direct_words(std::string_view("a\0b", 3)));  // strchr would call the NUL literal
  CHECK_FALSE(direct_words("    "));
  CHECK_FALSE(direct_words("FOO=1 env"));  // an assignment, not a program
  CHECK(direct_words("env FOO=1") == words{"env", "FOO=1"});  // an argument is literal
}

TEST_CASE("direct_command: dash's builtins and reserved words run in the shell") {
  for (const char* c : {"true", "false", "echo hi", "cd /tmp", "exit 3", "export A", "kill 1", "printf x", "test 1",
                        "pwd", "exec ls", "command ls", ". x", ": x", "wait", "umask", "ulimit -a", "if", "while",
                        "for", "case", "trap x", "read x", "type ls", "times", "set -e", "unset X"})
    CHECK_MESSAGE(!direct_words(c), std::string(c));
  CHECK(direct_words("truex") == words{"truex"});
  CHECK(direct_words("/bin/echo hi") == words{"/bin/echo", "hi"});
}

TEST_CASE("direct_command: the program is looked for as the shell does") {
  CHECK(search_paths("ls", "/usr/local/bin:/usr/bin:/bin") == words{"/usr/local/bin/ls", "/usr/bin/ls", "/bin/ls"});
  CHECK(search_paths("./run", "/usr/bin") == words{"./run"});
  CHECK(search_paths("bin/run", "/usr/bin") == words{"bin/run"});
  CHECK(search_paths("ls", ":/bin:") == words{"ls", "/bin/ls", "ls"});  // empty: the current directory
}

TEST_CASE("direct_command: dash's line for a command a signal killed") {
  CHECK(shell_signal_line(SIGSEGV, false) == "Segmentation fault\n");
  CHECK(shell_signal_line(SIGTERM, false) == "Terminated\n");
  CHECK(shell_signal_line(SIGKILL, false) == "Killed\n");
  CHECK(shell_signal_line(SIGABRT, true) == "Aborted (core dumped)\n");
  CHECK(shell_signal_line(SIGINT, false).empty());
  CHECK(shell_signal_line(SIGPIPE, false).empty());
}
