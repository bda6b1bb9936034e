#include "runtime/exec/direct_command.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iterator>

namespace troupe::exec {

namespace {

// Characters no shell gives a meaning to anywhere in a word (no quoting,
// expansion, globbing, redirection, comment, separator or tilde).
bool literal(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_./-+,:@%=").find(c) != std::string_view::npos;
}

// dash 0.5.12's reserved words and builtins (`help` lists the builtins),
// which the shell runs itself instead of searching PATH.
constexpr std::string_view shell_words[] = {
    "!",       "{",       "}",       "case",   "do",     "done",     "elif",  "else",   "esac",  "fi",
    "for",     "if",      "in",      "then",   "until",  "while",    ".",     ":",      "[",     "alias",
    "bg",      "break",   "cd",      "chdir",  "command", "continue", "echo",  "eval",   "exec",  "exit",
    "export",  "false",   "fc",      "fg",     "getopts", "hash",     "jobs",  "kill",   "local", "printf",
    "pwd",     "read",    "readonly", "return", "set",    "shift",    "test",  "times",  "trap",  "true",
    "type",    "ulimit",  "umask",   "unalias", "unset",  "wait"};

}  // namespace

std::optional<std::vector<std::string>> direct_words(std::string_view command) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < command.size()) {
    if (command[i] == ' ') {
      ++i;
      continue;
    }
    std::string word;
    while (i < command.size() && command[i] != ' ') {
      if (command[i] == '\'') {
        // Single quotes: everything up to the next one is literal (POSIX
        // 2.2.2; no escape inside), newlines included.
        const std::size_t close = command.find('\'', i + 1);
        if (close == std::string_view::npos) return std::nullopt;  // the shell's syntax error
        word.append(command.substr(i + 1, close - i - 1));
        i = close + 1;
      } else if (command[i] == '"') {
        // Double quotes: literal too when they hold none of the three
        // characters the shell still expands or escapes there (2.2.3).
        const std::size_t close = command.find('"', i + 1);
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view inside = command.substr(i + 1, close - i - 1);
        if (inside.find_first_of("$`\\") != std::string_view::npos) return std::nullopt;
        word.append(inside);
        i = close + 1;
      } else {
        if (!literal(command[i])) return std::nullopt;
        word += command[i++];
      }
    }
    words.push_back(std::move(word));
  }
  if (words.empty()) return std::nullopt;
  const std::string& name = words.front();
  if (name.find('=') != std::string::npos) return std::nullopt;  // an assignment
  if (std::find(std::begin(shell_words), std::end(shell_words), name) != std::end(shell_words)) return std::nullopt;
  return words;
}

std::vector<std::string> search_paths(const std::string& name, std::string_view path) {
  if (name.find('/') != std::string::npos) return {name};
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = path.find(':', start);
    const std::string_view dir = path.substr(start, colon == std::string_view::npos ? path.npos : colon - start);
    out.push_back(dir.empty() ? name : std::string(dir) + "/" + name);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return out;
}

std::string shell_signal_line(int sig, bool core_dumped) {
  if (sig == SIGINT || sig == SIGPIPE) return {};
  const char* text = ::strsignal(sig);
  std::string line(text ? text : "", 0, 31);
  if (core_dumped) line += " (core dumped)";
  return line + "\n";
}

}  // namespace troupe::exec
