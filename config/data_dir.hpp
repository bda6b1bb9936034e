// Proving a node can use its data directory before it starts anything.
#pragma once

#include <string>

namespace troupe::config {

// Creates `dir` (and missing parents) if needed, then writes, fsyncs and
// removes a probe file in it. Returns "" on success, else the strerror text
// of the step that failed (e.g. "Not a directory", "Read-only file system").
std::string prove_writable_dir(const std::string& dir);

}  // namespace troupe::config
