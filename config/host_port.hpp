// Parsing of "host:port" endpoint strings, used for listen addresses, member
// addresses and the --peers flag.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace troupe::config {

// Splits "host:port" or "[ipv6]:port" into host (brackets removed) and port.
// Throws config_error whose what() describes only the problem (callers add
// the file and key): empty host, missing or non-numeric port, port 0 or
// above 65535, unbracketed IPv6, whitespace.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& s);

// The inverse of split_host_port: brackets an IPv6 host.
std::string join_host_port(const std::string& host, std::uint16_t port);

// True for hosts that mean "every interface": fine to listen on, but no peer
// or client can dial them.
bool is_wildcard_host(const std::string& host);

}  // namespace troupe::config
