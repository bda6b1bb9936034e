// The node's command line: flags alone, or a config file with flag overrides.
#pragma once

#include "config/node_config.hpp"

#include <string>

namespace troupe::config {

enum class cli_action { run, help, check_config, version, restore };

struct cli_result {
  cli_action action = cli_action::run;
  node_config config;     // validated and finalized for run / check_config
  std::string help_text;  // usage() for help, version_string() for version
  std::string restore_file;  // --restore FILE: seed the data dir from this backup and exit
};

// Parses argv (argv[0] is the program name). Both "--flag value" and
// "--flag=value" work. --help / --version win over everything else and skip
// validation; otherwise the result is complete and validated (see validate())
// before anything starts. Throws config_error naming the flag or key.
cli_result parse_command_line(int argc, const char* const* argv);

// The --help text; documents every flag.
std::string usage();

// "troupe <version>".
std::string version_string();

// One line describing a validated config, printed by --check-config.
std::string summary(const node_config& c);

}  // namespace troupe::config
