// Group commit of start records (record_start, output_store.hpp): the starts
// of all jobs a backend is about to launch together become durable with one
// syncfs(2) instead of two fsyncs each. Same on-disk form as record_start
// (<output_dir>/<job_id>/started holding "<attempt>\n"), so recorded_start
// reads both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace troupe::exec {

struct start_record {
  std::string output_dir;
  std::string job_id;
  std::uint32_t attempt = 0;
  std::string error;  // set by record_starts: why this start could not be recorded ("" when durable)
};

// Writes every record (temp file, rename), then syncs each file system
// involved once (syncfs on output_dir). A record whose error stays empty is
// durable when this returns, exactly as after record_start; the caller must
// not run a job whose record failed. Never throws.
void record_starts(std::vector<start_record>& records);

}  // namespace troupe::exec
