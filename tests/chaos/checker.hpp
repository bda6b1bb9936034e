// The chaos checker: reads every node's whole job table through both gRPC
// ListJobs and REST GET /api/jobs (paging through each), and judges them
// against the clients' history. Its verdict fails on any lost, divergent or
// stuck job, cancel violation or wrong output.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/chaos/history.hpp"

namespace troupe::chaos {

// One job as one view shows it; times as RFC 3339 strings so gRPC's
// nanoseconds and REST's strings compare directly.
struct job_record {
  std::string id, command, status, error, image, created_at, started_at, completed_at;
  std::uint64_t executed_by = 0, assigned_worker = 0, attempts = 0;
  std::optional<std::int32_t> exit_code;
  std::optional<std::string> output;  // REST only (gRPC ListJobs carries none)

  bool terminal() const { return status == "completed" || status == "failed" || status == "cancelled"; }
  // The fields both views carry, "name=value" each, for comparing and printing.
  std::string common_fields() const;
};

struct view {
  std::string name;  // "node2/grpc", "node2/rest"
  bool ok = false;   // the whole table was read
  std::string error;
  std::map<std::string, job_record> jobs;  // by job id
};

struct read_options {
  std::vector<std::string> grpc_addresses;  // node id i at [i - 1]
  std::vector<std::string> http_addresses;
  std::string ca_file;  // a cluster with [tls]: TLS (https) trusting this CA
};
// Reads every view of every node (2 per node), each paging to the end.
std::vector<view> read_views(const read_options& o);

struct verdict {
  long operations = 0, faults = 0, acknowledged = 0, indeterminate = 0, refused = 0;
  long jobs = 0, lost = 0, duplicates = 0, divergent = 0, stuck = 0, unreadable_views = 0;
  long phantoms = 0;  // a job whose submit was answered with a definite refusal
  long reruns = 0;    // a job that started more often than it was assigned (attempts)
  long cancels_ok = 0, cancel_violations = 0, completed = 0, output_checked = 0, output_bad = 0;
  long node_crashes = 0;  // nodes that exited without being killed (reported, not judged)
  std::vector<std::string> details;  // one line per finding, for the report (first ones only)

  bool pass() const {
    return lost == 0 && divergent == 0 && stuck == 0 && cancel_violations == 0 && output_bad == 0 &&
           phantoms == 0 && reruns == 0 && unreadable_views == 0;
  }
  // A state the cluster will not change any more: every job terminal everywhere.
  bool settled() const { return stuck == 0; }
  std::string line(std::uint64_t seed, std::size_t nodes) const;
};

// `runs`: how many times each token's job started (the clients' runs file).
verdict judge(const std::vector<view>& views, const std::vector<submit_op>& submits,
              const std::vector<cancel_op>& cancels, const std::map<std::string, long>& runs);
// Counts the lines of the runs file by token.
std::map<std::string, long> read_runs(const std::string& path);

// Whether two reads hold the same jobs with the same fields in every view.
bool same_reads(const std::vector<view>& a, const std::vector<view>& b);

}  // namespace troupe::chaos
