#include "gateway/snapshot_stream.hpp"

#include <algorithm>
#include <string>

#include "gateway/grpc_errors.hpp"
#include "runtime/backup/backup_file.hpp"
#include "runtime/backup/spool_file.hpp"
#include "transport/ask.hpp"

namespace troupe {
namespace {

class snapshot_stream final : public grpc::ServerWriteReactor<admin::SnapshotChunk> {
 public:
  snapshot_stream(const asker& asker, node_service_actor service, grpc::CallbackServerContext* ctx,
                  std::uint64_t node_id, std::chrono::milliseconds wait)
      : node_id_(node_id) {
    // The reactor lives until Finish() and OnDone(); only the ask's answer
    // (or its timeout) calls Finish() first, so `this` outlives the ask.
    asker.ask(
        service, wait, [this](table_image& img) { start(std::move(img)); },
        [this, ctx](const caf::error& e) { Finish(to_status(ctx, e)); }, backup_atom::value);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {  // the client went away or cancelled
      release();
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the snapshot stream was cancelled"));
      return;
    }
    next();
  }

  void OnDone() override { delete this; }

 private:
  // Runs once, on the asker's thread; every later write follows the
  // previous one's OnWriteDone, so writes never overlap.
  void start(table_image&& img) {
    image_ = std::move(img);
    backup::metadata m;
    m.index = image_.index;
    m.term = image_.term;
    m.job_count = image_.job_count;
    m.data_bytes = image_.data ? image_.data->size() : 0;
    crc_.update(backup::encode_header(m));
    auto* md = chunk_.mutable_metadata();
    md->set_format_version(m.version);
    md->set_index(m.index);
    md->set_term(m.term);
    md->set_job_count(m.job_count);
    md->set_data_bytes(m.data_bytes);
    md->set_leader_id(node_id_);
    StartWrite(&chunk_);
  }

  void next() {
    const std::uint64_t total = image_.data ? image_.data->size() : 0;
    if (sent_ < total) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(snapshot_chunk_bytes, total - sent_));
      std::string* out = chunk_.mutable_data();
      out->resize(n);
      try {
        image_.data->read(sent_, out->data(), n);
      } catch (const std::exception& e) {
        release();
        Finish(grpc::Status(grpc::StatusCode::INTERNAL, std::string("cannot read the backup back: ") + e.what()));
        return;
      }
      crc_.update(*out);
      sent_ += n;
      StartWrite(&chunk_);
      return;
    }
    if (!trailer_sent_) {
      trailer_sent_ = true;
      release();
      chunk_.set_crc32c(crc_.value());
      StartWrite(&chunk_);
      return;
    }
    Finish(grpc::Status::OK);
  }

  void release() {
    image_.data.reset();  // the spool file's space goes with its last holder
    chunk_.Clear();
  }

  std::uint64_t node_id_;
  table_image image_;
  admin::SnapshotChunk chunk_;
  backup::checksum crc_;
  std::uint64_t sent_ = 0;
  bool trailer_sent_ = false;
};

}  // namespace

grpc::ServerWriteReactor<admin::SnapshotChunk>* make_snapshot_stream(const asker& asker,
                                                                      node_service_actor service,
                                                                      grpc::CallbackServerContext* ctx,
                                                                      std::uint64_t node_id,
                                                                      std::chrono::milliseconds wait) {
  return new snapshot_stream(asker, std::move(service), ctx, node_id, wait);
}

}  // namespace troupe
