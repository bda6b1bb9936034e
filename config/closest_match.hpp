// Typo protection: finds the known name a misspelt one was probably meant to be.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace troupe::config {

// Levenshtein distance (insert, delete, substitute each cost 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate nearest to `name` if it is within `max_distance` edits,
// else "". Ties go to the earliest candidate, so list common names first.
std::string closest_match(const std::string& name, const std::vector<std::string>& candidates,
                          std::size_t max_distance = 2);

}  // namespace troupe::config
