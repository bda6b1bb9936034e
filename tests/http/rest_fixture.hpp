// The cluster every REST test case shares, created by rest_main.cpp.
#pragma once

#include <cstdint>

#include "local_cluster.hpp"

namespace troupe::http_test {

local_cluster& cluster();
std::uint64_t leader_id();
std::uint64_t follower_id();  // some node that is not the leader
void refresh_leader();        // after a leadership change

}  // namespace troupe::http_test
