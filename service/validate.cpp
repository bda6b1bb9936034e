#include "service/validate.hpp"

#include <cctype>

#include "runtime/jobs/uuid.hpp"

namespace troupe::validate {

std::string command(const std::string& command, std::size_t max_bytes) {
  if (command.empty()) return "command must not be empty";
  if (command.size() > max_bytes)
    return "command is " + std::to_string(command.size()) + " bytes; the limit is " + std::to_string(max_bytes);
  if (command.find('\0') != std::string::npos) return "command must not contain NUL bytes";
  return {};
}

std::string image(const std::string& image) {
  if (image.size() > 255) return "image name is longer than 255 bytes";
  for (char c : image)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '/' || c == ':' ||
          c == '@'))
      return "image name contains an invalid character";
  return {};
}

std::string timeout(std::uint64_t timeout_s, std::uint64_t max_timeout_s) {
  if (timeout_s > max_timeout_s)
    return "timeout_s is " + std::to_string(timeout_s) + "; the limit is " + std::to_string(max_timeout_s) +
           " ([executor] max_timeout_s); 0 means the default";
  return {};
}

std::string job_id(const std::string& id) {
  if (!jobs::is_valid_uuid(id)) return "malformed job id \"" + id.substr(0, 64) + "\": expected a UUID";
  return {};
}

}  // namespace troupe::validate
