// Tokens and roles as the config holds them: only the SHA-256 of a token is
// kept, and a presented token is compared by digest in constant time.
#pragma once

#include <optional>
#include <string>

#include "config/node_config.hpp"

namespace troupe::config {

std::string sha256_hex(const std::string& data);  // lowercase hex
bool is_sha256_hex(const std::string& s);
std::string lowercase_hex(std::string s);
// Equal length strings compared without an early exit.
bool constant_time_equal(const std::string& a, const std::string& b);

std::optional<role> parse_role(const std::string& name);

// The token in a file: its content without the trailing newline. Throws
// config_error naming the file when it cannot be read or is empty.
std::string read_token_file(const std::string& path);

}  // namespace troupe::config
