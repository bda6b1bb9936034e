#include "config/host_port.hpp"

#include "config/node_config.hpp"

#include <cctype>

namespace troupe::config {
namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::uint16_t parse_port(const std::string& whole, const std::string& digits) {
  if (digits.empty())
    throw config_error(quoted(whole) + " has an empty port (expected host:port)");
  if (digits.size() > 5)
    throw config_error(quoted(whole) + ": port " + digits + " is out of range 1..65535");
  std::uint32_t port = 0;
  for (char ch : digits) {
    if (!std::isdigit(static_cast<unsigned char>(ch)))
      throw config_error(quoted(whole) + ": port " + quoted(digits) + " is not a number");
    port = port * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  if (port == 0 || port > 65535)
    throw config_error(quoted(whole) + ": port " + std::to_string(port) +
                       " is out of range 1..65535");
  return static_cast<std::uint16_t>(port);
}

bool valid_host_char(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
}

}  // namespace

std::pair<std::string, std::uint16_t> split_host_port(const std::string& s) {
  if (s.empty()) throw config_error("empty address (expected host:port)");
  for (char ch : s)
    if (std::isspace(static_cast<unsigned char>(ch)))
      throw config_error(quoted(s) + " contains whitespace (expected host:port)");

  if (s.front() == '[') {  // [ipv6]:port
    const auto close = s.find(']');
    if (close == std::string::npos)
      throw config_error(quoted(s) + " has '[' without ']' (expected [ipv6]:port)");
    std::string host = s.substr(1, close - 1);
    if (host.empty()) throw config_error(quoted(s) + " has an empty host");
    if (close + 1 >= s.size() || s[close + 1] != ':')
      throw config_error(quoted(s) + " has no port (expected [ipv6]:port)");
    for (char ch : host)
      if (!std::isxdigit(static_cast<unsigned char>(ch)) && ch != ':' && ch != '.')
        throw config_error(quoted(s) + ": " + quoted(host) + " is not an IPv6 address");
    return {host, parse_port(s, s.substr(close + 2))};
  }

  const auto colon = s.rfind(':');
  if (colon == std::string::npos)
    throw config_error(quoted(s) + " has no port (expected host:port)");
  std::string host = s.substr(0, colon);
  if (host.empty()) throw config_error(quoted(s) + " has an empty host (expected host:port)");
  if (host.find(':') != std::string::npos)
    throw config_error(quoted(s) + ": an IPv6 host must be in brackets, as in [::1]:50051");
  for (char ch : host)
    if (!valid_host_char(ch))
      throw config_error(quoted(s) + ": host " + quoted(host) + " contains '" +
                         std::string(1, ch) + "'");
  return {host, parse_port(s, s.substr(colon + 1))};
}

std::string join_host_port(const std::string& host, std::uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool is_wildcard_host(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0";
}

}  // namespace troupe::config
