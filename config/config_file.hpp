// Reading a node's TOML config file (format: config/examples/full.toml).
#pragma once

#include "config/node_config.hpp"

#include <string>

namespace troupe::config {

// Reads and type-checks the file and fills a node_config from it (defaults
// for absent keys); members stay in file order and advertise_addr stays as
// written. Does NOT validate: callers merge command-line overrides first.
// Throws config_error for an unreadable file, a TOML syntax error (with
// line:column), an unknown section or key (suggesting the nearest known one),
// a value of the wrong type or out of its type's range, or a missing [node].id.
node_config parse_file(const std::string& path);

// parse_file on text already in memory; `source` names it in every message
// (parse_file passes the path). No I/O: what the config fuzzer drives.
node_config parse_text(const std::string& text, const std::string& source);

// parse_file + validate + finalize: what a node started with only a config
// file runs with. Throws config_error.
node_config load_file(const std::string& path);

// Completes a validated config: sorts members by id and defaults
// advertise_addr to this node's own member address.
void finalize(node_config& c);

}  // namespace troupe::config
