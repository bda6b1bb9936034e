#pragma once

#include <stdexcept>

namespace troupe::storage {

// Every failure of the log store or state files: I/O errors (with the path and
// errno text) and corruption (with the file and byte offset).
struct storage_error : std::runtime_error {
  using runtime_error::runtime_error;
};

}  // namespace troupe::storage
