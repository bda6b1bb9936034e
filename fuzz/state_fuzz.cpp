// The files a node reads and the replicated configuration's encoding: the
// Raft state files next to the log (runtime/storage/state_files.hpp), read at
// every start; the configuration in every configuration entry and snapshot
// (runtime/raft/membership.hpp); a backup file, which `troupe-node --restore`
// and `troupe snapshot status` read (runtime/backup/backup_file.hpp).
// Contract:
// - decode_membership never throws; it accepts only what it documents
//   (non-zero, strictly increasing ids), and what it accepts encodes back
//   to the same bytes when written in the same version (a version 2 input
//   without any wire address is written as version 1), and decodes again to
//   the same configuration;
// - decode_hard_state and decode_snapshot return or throw storage_error
//   naming the file; an accepted hard state encodes back to its bytes, an
//   accepted snapshot of the current version too, and one of version 1 to a
//   current file holding the same index, term, configuration and data;
// - backup::decode returns or throws backup_error naming the file; what it
//   accepts holds the data its header announces and encodes back to its
//   bytes.
// Each file is also tried with its CRC trailer recomputed, so that the
// fuzzer's mutations reach the parsing behind the checksum.
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "runtime/backup/backup_file.hpp"
#include "runtime/raft/membership.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/state_files.hpp"

namespace troupe::fuzz {
namespace {

constexpr const char* target = "state_fuzz";
const std::string file = "fuzz-state-file";

void check_membership(std::string_view bytes) {
  std::string why;
  const auto m = raft::decode_membership(bytes, &why);
  if (!m) {
    require(!why.empty(), target, "a refused configuration without a reason");
    return;
  }
  raft::node_id prev = raft::no_node;
  for (const raft::member& x : m->members()) {
    require(x.id > prev, target, "an accepted configuration with a zero or repeated id");
    prev = x.id;
  }
  const std::string again = raft::encode(*m);
  if (again.size() > 4 && bytes.size() > 4 && again[4] == bytes[4])
    require(again == bytes, target, "an accepted configuration does not encode back to its bytes");
  const auto back = raft::decode_membership(again);
  require(back && *back == *m, target, "a configuration's own encoding does not decode to it");
}

// Calls f; a storage_error must name the file. Returns whether f returned.
template <typename F>
bool accepted(F&& f) {
  try {
    f();
    return true;
  } catch (const storage::storage_error& e) {
    require(std::string(e.what()).find(file) != std::string::npos, target,
            std::string("storage_error does not name the file: ") + e.what());
    return false;
  }
}

void check_hard_state(std::string_view bytes) {
  raft::hard_state hs;
  if (!accepted([&] { hs = storage::decode_hard_state(bytes, file); })) return;
  require(storage::encode_hard_state(hs) == bytes, target, "an accepted hard state does not encode back to its bytes");
}

void check_snapshot(std::string_view bytes) {
  raft::snapshot snap;
  if (!accepted([&] { snap = storage::decode_snapshot(bytes, file); })) return;
  const std::string again = storage::encode_snapshot(snap);
  if (bytes[4] == 2) {  // the current version: its own bytes
    require(again == bytes, target, "an accepted snapshot file does not encode back to its bytes");
    return;
  }
  raft::snapshot back;
  require(accepted([&] { back = storage::decode_snapshot(again, file); }), target,
          "an accepted snapshot's current encoding is refused");
  require(back.meta.index == snap.meta.index && back.meta.term == snap.meta.term && back.meta.conf == snap.meta.conf &&
              back.data == snap.data.view(),
          target, "an older snapshot file re-encoded holds something else");
}

void check_backup(std::string_view bytes) {
  backup::contents c;
  try {
    c = backup::decode(std::string(bytes), file);
  } catch (const backup::backup_error& e) {
    require(std::string(e.what()).find(file) != std::string::npos, target,
            std::string("backup_error does not name the file: ") + e.what());
    return;
  }
  require(c.meta.data_bytes == c.data.size(), target, "an accepted backup's data is not the length its header says");
  require(backup::encode(c.meta, c.data) == bytes, target, "an accepted backup does not encode back to its bytes");
}

// The bytes with their last four replaced by the CRC32C of the rest.
std::string with_valid_crc(std::string_view bytes) {
  std::string out(bytes);
  if (out.size() < 4) return out;
  const std::uint32_t crc = storage::crc32c(out.data(), out.size() - 4);
  for (int i = 0; i < 4; ++i) out[out.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
  return out;
}

}  // namespace

void state_one(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0:
      check_membership(bytes);
      break;
    case 1:
      check_hard_state(bytes);
      check_hard_state(with_valid_crc(bytes));
      break;
    case 2:
      check_snapshot(bytes);
      check_snapshot(with_valid_crc(bytes));
      break;
    default:
      check_backup(bytes);
      check_backup(with_valid_crc(bytes));
      break;
  }
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::state_one)
