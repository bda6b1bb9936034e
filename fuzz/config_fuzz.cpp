// Config file loader (config/): TOML text through parse_text, validate and
// finalize, as load_file runs them. Contract (config_file.hpp, validate.hpp,
// node_config.hpp): every refusal is a config_error whose what() is one line
// starting with the source name; a config that validates finalizes into one
// whose members are sorted and contain this node.
//
// validate()'s only side effect is creating [node].data_dir and a probe file
// in it (removed at once), so the harness points data_dir at the system's
// temporary directory, which exists: no input creates a directory anywhere,
// and nothing is left behind even when a run aborts.
#include <filesystem>
#include <string>

#include "config/config_file.hpp"
#include "config/validate.hpp"
#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"

namespace troupe::fuzz {
namespace {

constexpr const char* target = "config_fuzz";
const std::string source = "fuzz.toml";

const std::string& scratch_dir() {
  static const std::string dir = std::filesystem::temp_directory_path().string();
  return dir;
}

void check_error(const config::config_error& e) {
  const std::string what = e.what();
  require(what.rfind(source + ":", 0) == 0, target, "config_error does not start with the source: " + what);
  require(what.find_first_of("\r\n") == std::string::npos, target, "config_error is not one line: " + what);
}

}  // namespace

void config_one(const std::uint8_t* data, std::size_t size) {
  config::node_config c;
  try {
    c = config::parse_text(std::string(reinterpret_cast<const char*>(data), size), source);
  } catch (const config::config_error& e) {
    return check_error(e);
  }
  c.data_dir = scratch_dir();
  try {
    config::validate(c);
  } catch (const config::config_error& e) {
    return check_error(e);
  }
  config::finalize(c);
  for (std::size_t i = 1; i < c.members.size(); ++i)
    require(c.members[i - 1].id < c.members[i].id, target, "finalized members are not sorted by unique id");
  require(c.find_member(c.id) != nullptr && !c.advertise_addr.empty(), target,
          "a validated config does not contain this node");
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::config_one)
