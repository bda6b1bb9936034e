#include "node/cpu_budget.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace troupe::node {

namespace {

std::optional<std::string> first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::optional<double> parse_positive(const std::string& text) {
  std::istringstream in(text);
  long long v = 0;
  if (!(in >> v) || v <= 0) return std::nullopt;
  return static_cast<double>(v);
}

void keep_lower(std::optional<double>& limit, std::optional<double> found) {
  if (found && (!limit || *found < *limit)) limit = found;
}

// cgroup v1: cpu.cfs_quota_us is -1 when unlimited.
std::optional<double> v1_quota(const std::string& dir) {
  auto quota = first_line(dir + "/cpu.cfs_quota_us");
  auto period = first_line(dir + "/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  auto q = parse_positive(*quota);
  auto p = parse_positive(*period);
  if (!q || !p) return std::nullopt;
  return *q / *p;
}

std::optional<double> v2_quota(const std::string& dir) {
  auto text = first_line(dir + "/cpu.max");
  return text ? parse_cpu_max(*text) : std::nullopt;
}

// The lowest limit on the way from <base><path> up to <base>. Where the
// path does not exist under base (a container whose cgroup file system is
// mounted at its own cgroup), base's own limit is the one that applies.
template <class Read>
void lowest_on_path(std::optional<double>& limit, const std::string& base, std::string path, Read read) {
  std::error_code ec;
  if (std::filesystem::is_directory(base + path, ec))
    for (; !path.empty() && path != "/"; path.erase(path.find_last_of('/'))) keep_lower(limit, read(base + path));
  keep_lower(limit, read(base));
}

}  // namespace

std::optional<double> parse_cpu_max(const std::string& text) {
  std::istringstream in(text);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || period <= 0 || quota == "max") return std::nullopt;
  auto q = parse_positive(quota);
  if (!q) return std::nullopt;
  return *q / static_cast<double>(period);
}

unsigned cpu_budget::usable() const {
  unsigned n = std::max(1u, allowed);
  if (quota) n = std::min(n, std::max(1u, static_cast<unsigned>(std::ceil(*quota - 1e-9))));
  return n;
}

std::string cpu_budget::describe() const {
  std::string s = std::to_string(online) + " online, " + std::to_string(allowed) + " allowed, ";
  if (!quota) return s + "no CPU quota";
  char q[32];
  std::snprintf(q, sizeof q, "%.2g", *quota);
  return s + "a CPU quota of " + q + " CPUs";
}

cpu_budget read_cpu_budget(const std::string& proc, const std::string& cgroup_root) {
  cpu_budget b;
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  b.online = online > 0 ? static_cast<unsigned>(online) : 1;
  b.allowed = b.online;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    b.allowed = std::min<unsigned>(b.online, static_cast<unsigned>(CPU_COUNT(&set)));

  // Lines "<id>:<controllers>:<path>"; cgroup v2's is "0::<path>".
  std::ifstream in(proc + "/self/cgroup");
  std::error_code ec;
  std::string line;
  while (std::getline(in, line)) {
    const auto a = line.find(':');
    const auto z = line.find(':', a == std::string::npos ? a : a + 1);
    if (a == std::string::npos || z == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, z - a - 1);
    const std::string path = line.substr(z + 1);
    if (path.empty() || path[0] != '/') continue;
    if (controllers.empty()) {
      // The unified hierarchy: mounted at the root, or at unified/ beside v1's.
      for (const auto& base : {cgroup_root, cgroup_root + "/unified"})
        if (std::filesystem::exists(base + "/cgroup.controllers", ec)) lowest_on_path(b.quota, base, path, v2_quota);
      continue;
    }
    std::vector<std::string> names;
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) names.push_back(c);
    if (std::find(names.begin(), names.end(), "cpu") == names.end()) continue;
    for (const auto& base : {cgroup_root + "/" + controllers, cgroup_root + "/cpu"})
      if (std::filesystem::exists(base + "/cpu.cfs_period_us", ec)) lowest_on_path(b.quota, base, path, v1_quota);
  }
  return b;
}

}  // namespace troupe::node
