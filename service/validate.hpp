// Request validation, done once in the service whichever gateway a request
// came by. An empty string means valid; otherwise the INVALID_ARGUMENT text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe::validate {

std::string command(const std::string& command, std::size_t max_bytes);
std::string image(const std::string& image);
// A job's timeout_s: 0 means the node's default ([executor] timeout_s); more
// than max_timeout_s ([executor] max_timeout_s) is refused, so a job cannot
// hold a worker (and its processes) for ever.
std::string timeout(std::uint64_t timeout_s, std::uint64_t max_timeout_s);
std::string job_id(const std::string& id);

}  // namespace troupe::validate
