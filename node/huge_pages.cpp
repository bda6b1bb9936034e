#include "node/huge_pages.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string_view>

namespace troupe::node {

namespace {

constexpr const char* tunables_var = "GLIBC_TUNABLES";
constexpr const char* marker_var = "TROUPE_HUGE_PAGES_EXEC";
constexpr std::string_view hugetlb = "glibc.malloc.hugetlb=";

// The value of glibc.malloc.hugetlb in a GLIBC_TUNABLES value
// ("name=value:name=value"), if it is set.
std::optional<std::string_view> hugetlb_value(std::string_view tunables) {
  while (!tunables.empty()) {
    const auto colon = tunables.find(':');
    const auto item = tunables.substr(0, colon);
    if (item.substr(0, hugetlb.size()) == hugetlb) return item.substr(hugetlb.size());
    if (colon == std::string_view::npos) break;
    tunables.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace

std::string thp_mode(const std::string& path) {
  // The file reads "always [madvise] never": the bracketed word is the mode.
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line)) return {};
  const auto open = line.find('['), close = line.find(']');
  return open != std::string::npos && close != std::string::npos && close > open
             ? line.substr(open + 1, close - open - 1)
             : line;
}

std::optional<std::string> tunables_with_huge_pages(const char* current) {
  const std::string_view cur = current ? current : "";
  if (hugetlb_value(cur)) return std::nullopt;
  std::string out(cur);
  if (!out.empty()) out += ':';
  out.append(hugetlb).append("1");
  return out;
}

void exec_with_huge_pages(char** argv) {
  // The marker holds the process's name from before the exec, which named
  // it "exe" after /proc/self/exe: ps, top and pgrep show that name, and
  // the threads started later inherit it.
  if (const char* name = std::getenv(marker_var)) {
    ::prctl(PR_SET_NAME, name);
    ::unsetenv(marker_var);
    return;
  }
  // glibc advises huge pages only in this mode; under "always" the kernel
  // gives the heap huge pages without advice, under "never" none.
  if (thp_mode() != "madvise") return;
  const char* before = std::getenv(tunables_var);
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  const auto tunables = tunables_with_huge_pages(before);
  if (!tunables) return;
  ::setenv(tunables_var, tunables->c_str(), 1);
  char name[16] = {};  // the kernel's TASK_COMM_LEN
  ::prctl(PR_GET_NAME, name);
  ::setenv(marker_var, name[0] ? name : "troupe-node", 1);
  ::execv("/proc/self/exe", argv);
  const int err = errno;
  ::unsetenv(marker_var);
  if (saved)
    ::setenv(tunables_var, saved->c_str(), 1);
  else
    ::unsetenv(tunables_var);
  std::cerr << "troupe-node: cannot exec /proc/self/exe to advise huge pages for malloc (" << std::strerror(err)
            << "); running with 4 KiB pages\n";
}

std::string describe_huge_pages() {
  const char* t = std::getenv(tunables_var);
  const auto v = hugetlb_value(t ? t : "");
  std::string mode = thp_mode();
  if (mode.empty()) mode = "none (no /sys/kernel/mm/transparent_hugepage)";
  return std::string(hugetlb) + (v ? std::string(*v) : std::string("(unset)")) + ", kernel THP mode " + mode;
}

}  // namespace troupe::node
