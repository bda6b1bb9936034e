// Request validation, done once in the service whichever gateway a request
// came by. An empty string means valid; otherwise the INVALID_ARGUMENT text.
#pragma once

#include <cstddef>
#include <string>

namespace troupe::validate {

std::string command(const std::string& command, std::size_t max_bytes);
std::string image(const std::string& image);
std::string job_id(const std::string& id);

}  // namespace troupe::validate
