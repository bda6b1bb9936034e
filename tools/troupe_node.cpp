// troupe-node: one member of a troupe cluster. See --help.
#include <iostream>

#include "config/command_line.hpp"
#include "config/node_config.hpp"
#include "runtime/common/log.hpp"
#include "node/bootstrap.hpp"
#include "node/edge_security.hpp"

int main(int argc, char** argv) {
  troupe::config::cli_result cli;
  try {
    cli = troupe::config::parse_command_line(argc, argv);
  } catch (const troupe::config::config_error& e) {
    std::cerr << "troupe-node: " << e.what() << "\n";
    return 2;
  }
  switch (cli.action) {
    case troupe::config::cli_action::help:
    case troupe::config::cli_action::version:
      std::cout << cli.help_text;
      return 0;
    case troupe::config::cli_action::check_config:
      std::cout << troupe::config::summary(cli.config) << "\n";
      for (const auto& w : troupe::exposure_warnings(cli.config)) std::cerr << "troupe-node: " << w << "\n";
      return 0;
    case troupe::config::cli_action::run:
      break;
  }
  troupe::log::level lvl;
  if (troupe::log::parse_level(cli.config.log.level, lvl)) troupe::log::set_level(lvl);
  return troupe::run_node(cli.config);
}
