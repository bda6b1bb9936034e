// Everything a node needs to turn its config file and flags into a validated
// node_config. Include this; the headers below each hold one piece.
#pragma once

#include "config/command_line.hpp"
#include "config/config_file.hpp"
#include "config/host_port.hpp"
#include "config/node_config.hpp"
#include "config/validate.hpp"
