// node/cpu_budget: the CPUs a node may use, from its affinity and its
// cgroups' CPU quotas, read from fake /proc and /sys/fs/cgroup trees.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "node/cpu_budget.hpp"

using troupe::node::cpu_budget;
using troupe::node::parse_cpu_max;
using troupe::node::read_cpu_budget;
namespace fs = std::filesystem;

namespace {

struct fake_system {
  fs::path root = fs::temp_directory_path() / ("troupe-cpu-budget-test-" + std::to_string(::getpid()));
  fake_system() {
    fs::remove_all(root);
    fs::create_directories(root / "proc/self");
  }
  ~fake_system() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text << "\n";
  }
  cpu_budget read() { return read_cpu_budget((root / "proc").string(), (root / "cgroup").string()); }
};

}  // namespace

TEST_CASE("cpu.max: a quota and its period as CPUs; max, or anything malformed, is no limit") {
  CHECK(parse_cpu_max("150000 100000") == 1.5);
  CHECK(parse_cpu_max("200000 100000") == 2.0);
  CHECK_FALSE(parse_cpu_max("max 100000"));
  CHECK_FALSE(parse_cpu_max(""));
  CHECK_FALSE(parse_cpu_max("100000"));
  CHECK_FALSE(parse_cpu_max("100000 0"));
  CHECK_FALSE(parse_cpu_max("-1 100000"));
  CHECK_FALSE(parse_cpu_max("abc 100000"));
}

TEST_CASE("usable CPUs: the affinity mask, narrowed by a quota rounded up, at least one") {
  CHECK(cpu_budget{64, 64, std::nullopt}.usable() == 64);
  CHECK(cpu_budget{64, 8, std::nullopt}.usable() == 8);
  CHECK(cpu_budget{64, 64, 2.0}.usable() == 2);
  CHECK(cpu_budget{64, 64, 1.5}.usable() == 2);
  CHECK(cpu_budget{64, 4, 16.0}.usable() == 4);
  CHECK(cpu_budget{64, 64, 0.25}.usable() == 1);
  CHECK(cpu_budget{4, 4, 1.5}.describe() == "4 online, 4 allowed, a CPU quota of 1.5 CPUs");
  CHECK(cpu_budget{4, 2, std::nullopt}.describe() == "4 online, 2 allowed, no CPU quota");
}

TEST_CASE("cgroup v2: the lowest cpu.max from the process's cgroup up to the root") {
  fake_system s;
  s.write("proc/self/cgroup", "0::/kubepods/pod1/ctr");
  s.write("cgroup/cgroup.controllers", "cpu memory");
  s.write("cgroup/kubepods/cpu.max", "max 100000");
  s.write("cgroup/kubepods/pod1/cpu.max", "250000 100000");
  s.write("cgroup/kubepods/pod1/ctr/cpu.max", "400000 100000");
  auto b = s.read();
  REQUIRE(b.quota);
  CHECK(*b.quota == 2.5);
  CHECK(b.allowed >= 1);
  CHECK(b.allowed <= b.online);
}

TEST_CASE("cgroup v2 in a container: its own cgroup mounted at the root") {
  fake_system s;
  // The path names a cgroup that does not exist under this mount: the mount's own limit applies.
  s.write("proc/self/cgroup", "0::/system.slice/docker-1.scope");
  s.write("cgroup/cgroup.controllers", "cpu");
  s.write("cgroup/cpu.max", "100000 100000");
  auto b = s.read();
  REQUIRE(b.quota);
  CHECK(*b.quota == 1.0);
}

TEST_CASE("cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us; -1 is no limit") {
  fake_system s;
  s.write("proc/self/cgroup", "4:memory:/docker/1\n3:cpu,cpuacct:/docker/1\n0::/");
  s.write("cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1");
  s.write("cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000");
  s.write("cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1");
  s.write("cgroup/cpu,cpuacct/docker/cpu.cfs_period_us", "100000");
  s.write("cgroup/cpu,cpuacct/docker/1/cpu.cfs_quota_us", "300000");
  s.write("cgroup/cpu,cpuacct/docker/1/cpu.cfs_period_us", "100000");
  auto b = s.read();
  REQUIRE(b.quota);
  CHECK(*b.quota == 3.0);

  s.write("cgroup/cpu,cpuacct/docker/1/cpu.cfs_quota_us", "-1");
  CHECK_FALSE(s.read().quota);
}

TEST_CASE("no cgroup file, or an unreadable one, is no limit") {
  fake_system s;
  CHECK_FALSE(s.read().quota);
  s.write("proc/self/cgroup", "garbage\n0::relative\n");
  CHECK_FALSE(s.read().quota);
}

TEST_CASE("this machine: at least one usable CPU, never more than are online") {
  auto b = read_cpu_budget();
  CHECK(b.usable() >= 1);
  CHECK(b.usable() <= b.online);
  MESSAGE("this machine: " << b.describe());
}
