#include "tools/cli_snapshot.hpp"

#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "admin.grpc.pb.h"
#include "protocol/grpc_status_names.hpp"
#include "runtime/backup/backup_writer.hpp"

namespace troupe::cli {
namespace {

using json = nlohmann::json;

json meta_json(const std::string& file, const backup::metadata& m, std::uint64_t file_bytes) {
  return {{"file", file},     {"format_version", m.version}, {"index", m.index},
          {"term", m.term},   {"jobs", m.job_count},         {"data_bytes", m.data_bytes},
          {"bytes", file_bytes}};
}

// A status the client's redirect loop treats as final (not a redirect, not
// a retryable refusal): the stream reached us but its content is wrong.
grpc::Status stream_failed(const std::string& message) { return grpc::Status(grpc::StatusCode::ABORTED, message); }

}  // namespace

int snapshot_save(const std::string& file, bool json_out,
                  const std::function<grpc::Status(const snapshot_attempt&)>& run) {
  backup::backup_writer writer(file);  // removes FILE.tmp unless finish() renamed it
  std::optional<backup::metadata> saved;
  std::uint64_t leader = 0;
  std::string failure;  // a backup_error's message: not the server's status

  auto attempt = [&](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& ctx) -> grpc::Status {
    auto stub = admin::AdminService::NewStub(channel);
    auto reader = stub->SaveSnapshot(&ctx, admin::SaveSnapshotRequest{});
    admin::SnapshotChunk chunk;
    bool have_meta = false;
    std::optional<std::uint32_t> crc;
    try {
      while (reader->Read(&chunk)) {
        switch (chunk.part_case()) {
          case admin::SnapshotChunk::kMetadata: {
            if (have_meta) throw backup::backup_error(backup::backup_errc::stream, "metadata sent twice");
            const auto& m = chunk.metadata();
            backup::metadata meta;
            meta.version = m.format_version();
            meta.index = m.index();
            meta.term = m.term();
            meta.job_count = m.job_count();
            meta.data_bytes = m.data_bytes();
            if (meta.version != backup::format_version)
              throw backup::backup_error(backup::backup_errc::unsupported_version,
                                         "the server sends backup format " + std::to_string(meta.version) +
                                             "; this client writes " + std::to_string(backup::format_version));
            writer.begin(meta);  // on a retry: starts FILE.tmp again
            leader = m.leader_id();
            have_meta = true;
            break;
          }
          case admin::SnapshotChunk::kData:
            if (crc) throw backup::backup_error(backup::backup_errc::stream, "data after the checksum");
            if (!have_meta) throw backup::backup_error(backup::backup_errc::stream, "data before the metadata");
            writer.append(chunk.data());
            break;
          case admin::SnapshotChunk::kCrc32C:
            crc = chunk.crc32c();
            break;
          case admin::SnapshotChunk::PART_NOT_SET:
            throw backup::backup_error(backup::backup_errc::stream, "a stream message without content");
        }
      }
    } catch (const backup::backup_error& e) {
      failure = e.what();
      ctx.TryCancel();
      reader->Finish();
      return stream_failed(failure);
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) return s;  // not the leader, unavailable, denied: the loop decides
    try {
      if (!have_meta || !crc)
        throw backup::backup_error(backup::backup_errc::stream, "the stream ended without its metadata or checksum");
      saved = writer.finish(*crc);
    } catch (const backup::backup_error& e) {
      failure = e.what();
      return stream_failed(failure);
    }
    return grpc::Status::OK;
  };

  grpc::Status s = run(attempt);
  if (!failure.empty() || !s.ok() || !saved) {
    if (!failure.empty())
      std::cerr << "troupe: snapshot save: " << failure << "; " << file << " was not written\n";
    else
      std::cerr << "troupe: snapshot save: " << s.error_message() << " (" << grpc_code_name(s.error_code()) << "); " << file
                << " was not written\n";
    return 1;
  }
  const std::uint64_t bytes = writer.file_bytes();
  if (json_out) {
    auto j = meta_json(file, *saved, bytes);
    j["leader_id"] = leader;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "saved " << file << ": index " << saved->index << ", term " << saved->term << ", "
              << saved->job_count << " jobs, " << bytes << " bytes (from leader node " << leader << ")\n";
  }
  return 0;
}

int snapshot_status(const std::string& file, bool json_out) {
  try {
    backup::contents c = backup::read_backup_file(file);
    const std::uint64_t bytes = backup::header_bytes + c.data.size() + backup::trailer_bytes;
    if (json_out) {
      auto j = meta_json(file, c.meta, bytes);
      j["checksum"] = "ok";
      std::cout << j.dump() << "\n";
    } else {
      std::cout << file << ": troupe backup format " << c.meta.version << ", index " << c.meta.index << ", term "
                << c.meta.term << ", " << c.meta.job_count << " jobs, " << bytes << " bytes, checksum ok\n";
    }
    return 0;
  } catch (const backup::backup_error& e) {
    std::cerr << "troupe: snapshot status: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace troupe::cli
