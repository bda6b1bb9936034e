// Reading files and /proc from the exec and process-sandbox tests.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace troupe::exec::test {

// The whole file ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Pids of the live (not zombie) processes whose command line is exactly `argv`.
inline std::vector<pid_t> processes_running(const std::vector<std::string>& argv) {
  std::string want;
  for (const auto& a : argv) want += a + '\0';
  std::vector<pid_t> found;
  DIR* d = ::opendir("/proc");
  if (!d) return found;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string base = std::string("/proc/") + e->d_name;
    if (slurp(base + "/cmdline") != want) continue;
    std::string stat = slurp(base + "/stat");
    auto paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') continue;
    found.push_back(static_cast<pid_t>(std::stol(e->d_name)));
  }
  ::closedir(d);
  return found;
}

inline std::size_t count_processes(const std::vector<std::string>& argv) { return processes_running(argv).size(); }

}  // namespace troupe::exec::test
