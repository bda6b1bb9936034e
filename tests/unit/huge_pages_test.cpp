// node/huge_pages: the GLIBC_TUNABLES value a node re-execs itself with.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "node/huge_pages.hpp"

using troupe::node::thp_mode;
using troupe::node::tunables_with_huge_pages;

TEST_CASE("the THP mode is the bracketed word of the kernel's file; empty when there is none") {
  const std::string path = "/tmp/troupe-thp-mode-test-" + std::to_string(::getpid());
  for (const auto& [text, mode] : {std::pair<std::string, std::string>{"always [madvise] never", "madvise"},
                                   {"[always] madvise never", "always"},
                                   {"always madvise [never]", "never"},
                                   {"[always] madvise never\n", "always"}}) {
    std::ofstream(path) << text;
    CHECK(thp_mode(path) == mode);
  }
  std::remove(path.c_str());
  CHECK(thp_mode(path).empty());
}

TEST_CASE("the tunable is added to an unset or empty GLIBC_TUNABLES") {
  CHECK(tunables_with_huge_pages(nullptr) == "glibc.malloc.hugetlb=1");
  CHECK(tunables_with_huge_pages("") == "glibc.malloc.hugetlb=1");
}

TEST_CASE("the environment's other tunables are kept, first and in order") {
  CHECK(tunables_with_huge_pages("glibc.malloc.tcache_count=256") ==
        "glibc.malloc.tcache_count=256:glibc.malloc.hugetlb=1");
  CHECK(tunables_with_huge_pages("glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=1048576") ==
        "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=1048576:glibc.malloc.hugetlb=1");
}

TEST_CASE("a hugetlb the environment already chose stands, whatever its value") {
  CHECK(tunables_with_huge_pages("glibc.malloc.hugetlb=0") == std::nullopt);
  CHECK(tunables_with_huge_pages("glibc.malloc.hugetlb=2") == std::nullopt);
  CHECK(tunables_with_huge_pages("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0") == std::nullopt);
  CHECK(tunables_with_huge_pages("glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2") == std::nullopt);
}

TEST_CASE("a name that only begins or ends like the tunable is another tunable") {
  CHECK(tunables_with_huge_pages("glibc.malloc.hugetlbx=0") == "glibc.malloc.hugetlbx=0:glibc.malloc.hugetlb=1");
  CHECK(tunables_with_huge_pages("xglibc.malloc.hugetlb=0") == "xglibc.malloc.hugetlb=0:glibc.malloc.hugetlb=1");
  CHECK(tunables_with_huge_pages("glibc.malloc.hugetlb") == "glibc.malloc.hugetlb:glibc.malloc.hugetlb=1");
}
