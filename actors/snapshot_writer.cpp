#include "actors/snapshot_writer.hpp"

#include "protocol/errors.hpp"

namespace troupe {

snapshot_writer_actor::behavior_type snapshot_writer(
    snapshot_writer_actor::stateful_pointer<snapshot_writer_state> self, std::string dir) {
  self->state.dir = std::move(dir);
  return {
      [=](write_atom, snapshot_piece& p) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        const raft::index_t index = p.meta.index;
        if (p.first)
          st.file = std::make_unique<storage::snapshot_file_writer>(st.dir, std::move(p.meta));
        else if (!st.file || st.file->meta().index != index)
          return make_error(errc::unavailable, "the snapshot at index " + std::to_string(index) + " was dropped");
        st.file->append(p.bytes);
        const std::uint64_t bytes = st.file->data_bytes();
        if (p.last) {
          st.file->finish();
          st.file.reset();  // the file stays, for log_store to install
        }
        return bytes;
      },
      [=](cancel_atom) { self->state.file.reset(); },  // removes its file
  };
}

}  // namespace troupe
