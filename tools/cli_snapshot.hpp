// The CLI's snapshot commands: `snapshot save FILE` (AdminService.SaveSnapshot
// into a checked file, runtime/backup/backup_writer.hpp) and `snapshot status
// FILE` (verify a file and print what it holds). Exit codes: 0 done, 1 any
// failure (one line on stderr saying what).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace troupe::cli {

// One SaveSnapshot call on `channel` with a prepared context (token, deadline).
using snapshot_attempt = std::function<grpc::Status(std::shared_ptr<grpc::Channel>, grpc::ClientContext&)>;

// `run` calls the attempt on the cluster, following leader redirects (the
// client's with_redirects), and returns the last status.
int snapshot_save(const std::string& file, bool json,
                  const std::function<grpc::Status(const snapshot_attempt&)>& run);

int snapshot_status(const std::string& file, bool json);

}  // namespace troupe::cli
