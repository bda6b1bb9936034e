// The typed failure of everything that reads or writes a backup file: the
// CLI and troupe-node turn the code into their exit status and the message
// into one clear line; tests check the code.
#pragma once

#include <stdexcept>
#include <string>

namespace troupe::backup {

enum class backup_errc {
  io,                   // open, write, fsync, rename failed (message has path and errno text)
  truncated,            // fewer bytes than the header or the declared data need
  bad_magic,            // not a troupe backup file
  unsupported_version,  // a format this build does not read
  length_mismatch,      // data length or job count differs from the header, or trailing bytes
  checksum_mismatch,    // the CRC32C does not match the bytes
  bad_job_data,         // the data is not a job table snapshot this build reads
  stream,               // the server's stream broke the protocol (order, sizes)
};

const char* to_string(backup_errc c);

struct backup_error : std::runtime_error {
  backup_error(backup_errc c, const std::string& message) : std::runtime_error(message), code(c) {}
  backup_errc code;
};

}  // namespace troupe::backup
