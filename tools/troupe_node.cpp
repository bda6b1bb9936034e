// troupe-node: one member of a troupe cluster. See --help.
#include <iostream>

#include "config/command_line.hpp"
#include "config/node_config.hpp"
#include "runtime/common/log.hpp"
#include "node/bootstrap.hpp"
#include "node/edge_security.hpp"
#include "node/huge_pages.hpp"
#include "node/restore.hpp"
#include "runtime/storage/storage_error.hpp"

namespace {

// --restore: writes the data dir and exits (node/restore.hpp); one line on
// success, one clear line and exit 1 on any failure.
int restore(const troupe::config::cli_result& cli) {
  try {
    auto r = troupe::node::restore_data_dir(cli.config, cli.restore_file);
    std::string voters;
    for (auto v : r.voters) voters += (voters.empty() ? "" : ",") + std::to_string(v);
    std::cout << "restored " << cli.restore_file << " into " << cli.config.data_dir << ": index " << r.meta.index
              << ", term " << r.meta.term << ", " << r.meta.job_count << " jobs (" << r.requeued
              << " assigned or running went back to pending), members " << voters
              << "; start the node without --restore\n";
    return 0;
  } catch (const std::exception& e) {
    // backup_error (the file), data_dir_not_empty, data_dir_in_use (the
    // lock), storage_error (writing): each says what and where in one line.
    std::cerr << "troupe-node: --restore: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace

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
    // Both build a job table as large as the cluster's, so both first put
    // the heap on huge pages (node/huge_pages.hpp: an exec, or nothing).
    case troupe::config::cli_action::restore:
      troupe::node::exec_with_huge_pages(argv);
      return restore(cli);
    case troupe::config::cli_action::run:
      troupe::node::exec_with_huge_pages(argv);
      break;
  }
  troupe::log::level lvl;
  if (troupe::log::parse_level(cli.config.log.level, lvl)) troupe::log::set_level(lvl);
  return troupe::run_node(cli.config);
}
