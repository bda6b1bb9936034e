// AdminService.SaveSnapshot's stream: asks node_service for the leader's
// image of the job table, then writes it as metadata, data chunks of at most
// snapshot_chunk_bytes, and the CRC32C of the backup file those parts make
// (runtime/backup/backup_file.hpp), one write at a time (callback API; the
// reactor deletes itself when done). The image waits in its spool file
// (runtime/backup/spool_file.hpp), read a chunk at a time and released after
// the last; the checksum is computed chunk by chunk on gRPC's threads as the
// data goes out, never on an actor thread.
#pragma once

#include <chrono>
#include <cstdint>

#include <caf/actor_system.hpp>
#include <grpcpp/grpcpp.h>

#include "admin.pb.h"
#include "service/node_service.hpp"
#include "transport/ask.hpp"

namespace troupe {

// Well below gRPC's default 4 MiB receive limit of clients.
inline constexpr std::size_t snapshot_chunk_bytes = 1 << 20;

grpc::ServerWriteReactor<admin::SnapshotChunk>* make_snapshot_stream(const asker& asker,
                                                                      node_service_actor service,
                                                                      grpc::CallbackServerContext* ctx,
                                                                      std::uint64_t node_id,
                                                                      std::chrono::milliseconds wait);

}  // namespace troupe
