// Whole-configuration checks, run once before a node starts anything.
#pragma once

#include "config/node_config.hpp"

namespace troupe::config {

// Throws config_error on the first problem found: id 0, missing data_dir,
// malformed or undialable addresses, clashing ports, duplicate or missing
// members, bad enum values, zero or contradictory timings and limits. Checks
// the data directory last, by creating it if missing and writing a probe
// file into it (the only side effect).
void validate(const node_config& c);

}  // namespace troupe::config
