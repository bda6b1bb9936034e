// What a backend is asked to run and what it reports back. Plain data shared by
// every execution backend (docker, process) and by the job_executor actor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace troupe::exec {

class start_journal;

// Container confinement. The defaults are the safe ones: no network, no
// capabilities, read-only root filesystem, bounded memory/CPU/pids.
struct sandbox_options {
  std::string network = "none";
  std::int64_t memory_bytes = 256ll << 20;  // also used as MemorySwap: no swap
  std::int64_t nano_cpus = 500'000'000;     // 0.5 CPU
  std::int64_t pids_limit = 256;
  bool drop_all_capabilities = true;
  bool no_new_privileges = true;
  bool read_only_rootfs = true;
};

struct job_spec {
  std::string job_id;
  std::uint64_t node_id = 0;
  std::uint32_t attempt = 0;  // names the process backend's working directory <job_id>-<attempt>
  std::string command;  // run as `sh -c command`
  std::string image;    // already resolved (job's own or the node default)
  std::chrono::seconds timeout{30};
  std::string output_dir;  // <data_dir>/outputs; files <output_dir>/<job_id>/stdout|stderr|meta.json
  std::size_t output_cap_bytes = 1 << 20;  // per stream, on disk
  std::size_t inline_limit = 64 << 10;     // per stream, in job_result
  // When set, backend::start records the attempt in it durably before the
  // job runs (a restarted node must know it may have run). run() never does.
  std::shared_ptr<start_journal> journal;
};

enum class outcome { completed, failed, cancelled };

const char* to_string(outcome o);

struct job_result {
  outcome result = outcome::failed;
  std::optional<int> exit_code;
  // Empty on success; otherwise one precise sentence, e.g. "timed out after 30 s",
  // "out of memory (killed, limit 268435456 bytes)", "exited with code 3",
  // "image local/x:latest not found: <daemon message>", "killed by signal 9".
  std::string error;
  bool timed_out = false;
  bool oom_killed = false;
  std::string stdout_inline, stderr_inline;  // first inline_limit bytes of each stream
  bool truncated = false;                    // a stream exceeded output_cap_bytes
  std::uint64_t stdout_bytes = 0, stderr_bytes = 0;  // bytes the job wrote, before the cap

  // The inline copies leave part of the output out (a stream past
  // inline_limit, or past the cap): only the node's stored files have all
  // of it. The job's status says so (output_truncated), and readers fetch
  // the stored output exactly then.
  bool cut_inline() const {
    return truncated || stdout_inline.size() < stdout_bytes || stderr_inline.size() < stderr_bytes;
  }
};

}  // namespace troupe::exec
